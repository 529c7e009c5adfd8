"""Reusable Textual widgets: metric charts, live numbers with sparklines, the warnings panel."""
