from nt_tui.safetext import clean


def test_escape_sequences_and_controls_are_removed():
    assert clean("\x1b[31mloss\x1b[0m") == "loss"
    assert clean("\x1b]0;pwned\x07name") == "name"
    assert clean("a\x00b\x07c\rd\ne\x9bf") == "abcdef"
    assert clean("tab\tkept") == "tab\tkept"


def test_truncation():
    assert clean("abcdef", max_length=4) == "abc…"
    assert clean(3.5) == "3.5"
