"""Character and byte tokenizers for plain text (numpy, no torch).

A character vocabulary is the sorted set of characters in the training and validation text,
so it is the same on every run over the same files; it is stored in every checkpoint so a
resumed run cannot silently map characters differently.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nt_tui.errors import NtTuiError

#: Byte tokenizer vocabulary: every byte value.
BYTE_VOCAB = 256


@dataclass(frozen=True)
class CharTokenizer:
    """One token per distinct character."""

    chars: str

    kind = "char"

    @classmethod
    def from_texts(cls, *texts: str) -> CharTokenizer:
        return cls("".join(sorted(set().union(*texts))))

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> np.ndarray:
        """Token ids as an int64 array (vectorised: fast on large files)."""
        vocab = _code_points(self.chars)
        codes = _code_points(text)
        ids = np.searchsorted(vocab, codes)
        unknown = (ids >= len(vocab)) | (vocab[np.minimum(ids, len(vocab) - 1)] != codes)
        if unknown.any():
            char = chr(int(codes[np.argmax(unknown)]))
            raise NtTuiError(f"character {char!r} is not in the run's vocabulary",
                             hint="use data.tokenizer: byte for text with new characters")
        return ids.astype(np.int64)

    def decode(self, ids: list[int]) -> str:
        return "".join(self.chars[i] for i in ids)

    def state(self) -> dict:
        return {"kind": self.kind, "chars": self.chars}


@dataclass(frozen=True)
class ByteTokenizer:
    """One token per UTF-8 byte: a fixed vocabulary of 256 that reads any text."""

    kind = "byte"

    @property
    def vocab_size(self) -> int:
        return BYTE_VOCAB

    def encode(self, text: str) -> np.ndarray:
        """Token ids as an int64 array."""
        return np.frombuffer(text.encode("utf-8"), dtype=np.uint8).astype(np.int64)

    def decode(self, ids: list[int]) -> str:
        return bytes(ids).decode("utf-8", errors="replace")

    def state(self) -> dict:
        return {"kind": self.kind}


def _code_points(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)


Tokenizer = CharTokenizer | ByteTokenizer


def build_tokenizer(kind: str, *texts: str) -> Tokenizer:
    """A tokenizer of `kind` ("char" or "byte") for the given texts."""
    return ByteTokenizer() if kind == "byte" else CharTokenizer.from_texts(*texts)


def tokenizer_from_state(state: dict) -> Tokenizer:
    """Rebuild a tokenizer stored by `state()` (in a checkpoint)."""
    return ByteTokenizer() if state.get("kind") == "byte" else CharTokenizer(state["chars"])
