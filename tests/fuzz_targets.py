"""Fuzz targets shared by the CI property tests and `bench/fuzz.py` (many more examples).

Each target feeds generated input to one entry point and lets only `NtTuiError` (the documented
error type) escape.
"""

from __future__ import annotations

import string

from hypothesis import strategies as st

from nt_tui.config import load_config_text
from nt_tui.config.schema import SECTIONS, TrainingConfig
from nt_tui.errors import NtTuiError

_keys = st.sampled_from([*SECTIONS, "name", "seed", "precision", "lr", "size", "backends",
                         "total_steps", "batch_size", "val_split", "entrypoint", "bogus"])
_scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**12),
                     st.floats(allow_nan=True, allow_infinity=True),
                     st.text(string.printable, max_size=20))
_values = st.recursive(_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(_keys, inner, max_size=5)), max_leaves=12)

#: YAML-ish documents: structured mappings, rendered, plus raw text and bytes decoded loosely.
config_documents = st.one_of(
    st.dictionaries(_keys, _values, max_size=6).map(lambda d: __import__("yaml").safe_dump(d)),
    st.text(max_size=300),
    st.binary(max_size=300).map(lambda b: b.decode("utf-8", "replace")),
)


def config_loader_target(text: str) -> None:
    """Parse arbitrary text as a config; only NtTuiError may escape."""
    try:
        result = load_config_text(text, source="fuzz.yaml")
    except NtTuiError as exc:
        assert exc.message and "\n" not in exc.one_line()
        return
    assert isinstance(result, TrainingConfig)
