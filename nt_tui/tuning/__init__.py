"""Choosing hyperparameters: the LR range test (`lr_finder`) and Optuna sweeps (`sweep_config`,
`sweep`). Format and rules in docs/sweeps.md.

Importing this package is cheap: torch is imported by `lr_finder.run_range_test` and optuna by
`sweep`'s functions, only when a test or a sweep runs.
"""
