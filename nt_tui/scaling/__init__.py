"""Scaling laws: the published calculators (laws.py) and fits to your own runs (fit.py)."""
