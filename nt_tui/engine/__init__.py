"""The training engine: models, data, loop, checkpoints, metric sinks, summary.

Importing this package is cheap; torch and accelerate are imported by the modules that need
them (`model`, `data`, `trainer`, ...), which the app and the CLI import only when a run starts.
The public entry points are `nt_tui.engine.trainer.Trainer` and `TrainingControl`.
"""
