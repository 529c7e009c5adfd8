"""Batches for training and validation, deterministic in (seed, position).

The training order is a fresh permutation of the items every epoch, drawn from a generator
seeded with (seed, epoch); the data position is just the number of micro-batches consumed. A
checkpoint stores that number, so a resumed run reads exactly the batches an uninterrupted
run would have read. With several processes, global batch `n` is split between the ranks.

Items are either windows of a token stream (language modelling: `TokenWindows`) or the items
of a user's map-style dataset (`DatasetItems`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import torch

from nt_tui.errors import NtTuiError


class ItemSource(Protocol):
    """Something whose items can be fetched by index, in batches."""

    def __len__(self) -> int: ...

    def fetch(self, indices: torch.Tensor, epoch: int) -> Any: ...


class TokenWindows:
    """Non-overlapping (seq_len + 1)-token windows of a token stream: inputs and next tokens.

    Each epoch shifts every window by the same random offset in [0, seq_len), so later epochs
    see other cuts of the text.
    """

    def __init__(self, tokens: torch.Tensor, seq_len: int, seed: int, name: str) -> None:
        if tokens.numel() < seq_len + 2:
            raise NtTuiError(f"{name} has {tokens.numel()} tokens, fewer than seq_len + 2 = "
                             f"{seq_len + 2}", hint="use more text or a smaller data.seq_len")
        self.tokens = tokens
        self.seq_len = seq_len
        self.seed = seed
        # Room for the largest shift: every window of every epoch stays inside the stream.
        self._count = max(1, (tokens.numel() - 1 - seq_len) // seq_len)
        self._span = torch.arange(seq_len + 1)

    def __len__(self) -> int:
        return self._count

    def shift(self, epoch: int) -> int:
        """The offset of every window in `epoch` (0 in epoch 0)."""
        if epoch == 0:
            return 0
        room = self.tokens.numel() - 1 - self._count * self.seq_len
        generator = torch.Generator().manual_seed(self.seed * 7919 + epoch)
        return int(torch.randint(0, max(1, min(room, self.seq_len)), (1,), generator=generator))

    def starts(self, indices: torch.Tensor, epoch: int) -> torch.Tensor:
        return indices * self.seq_len + self.shift(epoch)

    def fetch(self, indices: torch.Tensor, epoch: int) -> tuple[torch.Tensor, torch.Tensor]:
        windows = self.tokens[self.starts(indices, epoch)[:, None] + self._span].long()
        return windows[:, :-1], windows[:, 1:]


class DatasetItems:
    """The items of a map-style dataset (`__len__` and `__getitem__`), collated by PyTorch."""

    def __init__(self, dataset: Any, name: str) -> None:
        try:
            self._count = len(dataset)
        except TypeError:
            raise NtTuiError(f"{name} has no len(): nt-tui needs a map-style dataset",
                             hint="return a torch.utils.data.Dataset with __len__ and "
                                  "__getitem__") from None
        self.dataset = dataset

    def __len__(self) -> int:
        return self._count

    def fetch(self, indices: torch.Tensor, epoch: int) -> Any:
        from torch.utils.data import default_collate

        return default_collate([self.dataset[int(i)] for i in indices])


@dataclass
class TrainBatches:
    """Shuffled training batches: micro-batch `position` -> this rank's share of it."""

    items: ItemSource
    batch_size: int
    seed: int
    world_size: int = 1
    rank: int = 0
    shuffle: bool = True

    def __post_init__(self) -> None:
        self.per_epoch = len(self.items) // (self.batch_size * self.world_size)
        if self.per_epoch == 0:
            raise NtTuiError(
                f"the training data has {len(self.items)} sequences, fewer than one batch of "
                f"{self.batch_size * self.world_size}",
                hint="use more data, a smaller data.batch_size or a smaller data.seq_len")
        self._epoch = -1
        self._order = torch.empty(0, dtype=torch.long)

    def order(self, epoch: int) -> torch.Tensor:
        if epoch != self._epoch:
            if self.shuffle:
                generator = torch.Generator().manual_seed(self.seed + epoch)
                self._order = torch.randperm(len(self.items), generator=generator)
            else:
                self._order = torch.arange(len(self.items))
            self._epoch = epoch
        return self._order

    def epoch_of(self, position: int) -> float:
        """Epochs done after `position` micro-batches (fractional)."""
        return position / self.per_epoch

    def batch(self, position: int) -> Any:
        epoch, within = divmod(position, self.per_epoch)
        first = (within * self.world_size + self.rank) * self.batch_size
        return self.items.fetch(self.order(epoch)[first:first + self.batch_size], epoch)


def validation_batches(items: ItemSource, batch_size: int, max_batches: int, world_size: int = 1,
                       rank: int = 0) -> list[Any]:
    """A fixed set of validation batches for this rank, the same at every validation.

    Items are spread evenly over the whole validation set (at most `max_batches` global
    batches); a rank may get none when the set is smaller than one batch per rank.
    """
    total = min(len(items), max_batches * batch_size * world_size)
    picked = torch.linspace(0, len(items) - 1, total).round().long() if total else \
        torch.empty(0, dtype=torch.long)
    mine = picked[rank::world_size]
    return [items.fetch(mine[i:i + batch_size], 0) for i in range(0, len(mine), batch_size)]


def smallest_dtype(vocab_size: int) -> torch.dtype:
    """The narrowest integer dtype that holds every token id (saves memory on large texts)."""
    if vocab_size <= 256:
        return torch.uint8
    if vocab_size <= 2 ** 15:
        return torch.int16
    return torch.int32
