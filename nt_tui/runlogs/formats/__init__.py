"""One reader per log format, each an incremental `LogSource` (see base.py)."""
