"""Run logs from every common tool, read into one `RunHistory`."""
