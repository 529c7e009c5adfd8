"""nt-tui: a neural-network training coach in the terminal."""

__version__ = "0.1.0"
