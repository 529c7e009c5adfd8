"""Analysis over run histories: early warnings, curve interpretation, diagnosis (no UI)."""
