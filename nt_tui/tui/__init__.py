"""The Textual layer: a thin front end over nt_tui's core."""
