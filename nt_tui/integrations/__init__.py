"""Plug nt-tui into training code it does not run: a plain-Python logger and callbacks for
Hugging Face Trainer and Lightning. All write an nt-tui run directory live."""
