"""nt-tui's built-in decoder-only Transformer (GPT).

Pre-LayerNorm blocks, learned or rotary positions, optional tied input/output embeddings,
weights drawn from N(0, 0.02) with the residual output projections scaled by
1/sqrt(2 * n_layer) (GPT-2, Radford et al. 2019, section 2.3). The parameter count equals
`nt_tui.config.defaults.builtin_param_count` (checked by tests/test_engine_model.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from nt_tui.config.schema import BUILTIN_SIZES, TrainingConfig
from nt_tui.errors import NtTuiError

#: GPT-2's initialisation: weights ~ N(0, INIT_STD), biases 0.
INIT_STD = 0.02
#: Rotary embedding base frequency (Su et al. 2021, RoFormer).
ROPE_BASE = 10000.0


@dataclass(frozen=True)
class GPTShape:
    """Everything that decides the architecture and its parameter count."""

    n_layer: int
    n_head: int
    n_embd: int
    vocab_size: int
    seq_len: int
    positional: str = "learned"
    tie_embeddings: bool = True
    dropout: float = 0.0

    @classmethod
    def from_config(cls, config: TrainingConfig, vocab_size: int) -> GPTShape:
        """The shape a config asks for: the size's defaults with per-key overrides."""
        model = config.model
        n_layer, n_head, n_embd = BUILTIN_SIZES[model.size or "tiny"]
        shape = cls(
            n_layer=model.n_layer or n_layer, n_head=model.n_head or n_head,
            n_embd=model.n_embd or n_embd, vocab_size=vocab_size, seq_len=config.data.seq_len,
            positional=model.positional, tie_embeddings=model.tie_embeddings,
            dropout=config.regularization.dropout)
        shape.validate()
        return shape

    def validate(self) -> None:
        if self.n_embd % self.n_head:
            raise NtTuiError(
                f"model.n_embd={self.n_embd} is not divisible by model.n_head={self.n_head}",
                hint="pick n_embd as a multiple of n_head")
        if self.positional == "rotary" and (self.n_embd // self.n_head) % 2:
            raise NtTuiError(
                f"rotary positions need an even head size, got {self.n_embd // self.n_head}",
                hint="change model.n_embd or model.n_head, or use positional: learned")


class Rotary(nn.Module):
    """Rotary position embedding: rotates query/key channel pairs by position-dependent angles."""

    def __init__(self, head_dim: int, seq_len: int) -> None:
        super().__init__()
        inv_freq = ROPE_BASE ** (-torch.arange(0, head_dim, 2).float() / head_dim)
        angles = torch.outer(torch.arange(seq_len).float(), inv_freq)
        # Buffers are not parameters and are rebuilt on load (persistent=False).
        self.register_buffer("cos", angles.cos(), persistent=False)
        self.register_buffer("sin", angles.sin(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (batch, heads, time, head_dim)."""
        length = x.size(-2)
        cos, sin = self.cos[:length].to(x.dtype), self.sin[:length].to(x.dtype)
        even, odd = x[..., 0::2], x[..., 1::2]
        return torch.stack((even * cos - odd * sin, even * sin + odd * cos), dim=-1).flatten(-2)


class CausalSelfAttention(nn.Module):
    def __init__(self, shape: GPTShape) -> None:
        super().__init__()
        self.n_head = shape.n_head
        self.c_attn = nn.Linear(shape.n_embd, 3 * shape.n_embd)
        self.c_proj = nn.Linear(shape.n_embd, shape.n_embd)
        self.dropout = shape.dropout
        self.resid_dropout = nn.Dropout(shape.dropout)
        head_dim = shape.n_embd // shape.n_head
        self.rotary = Rotary(head_dim, shape.seq_len) if shape.positional == "rotary" else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, width = x.shape
        q, k, v = self.c_attn(x).split(width, dim=2)
        q, k, v = (t.view(batch, length, self.n_head, -1).transpose(1, 2) for t in (q, k, v))
        if self.rotary is not None:
            q, k = self.rotary(q), self.rotary(k)
        y = F.scaled_dot_product_attention(
            q, k, v, is_causal=True, dropout_p=self.dropout if self.training else 0.0)
        y = y.transpose(1, 2).contiguous().view(batch, length, width)
        return self.resid_dropout(self.c_proj(y))


class MLP(nn.Module):
    def __init__(self, shape: GPTShape) -> None:
        super().__init__()
        self.c_fc = nn.Linear(shape.n_embd, 4 * shape.n_embd)
        self.c_proj = nn.Linear(4 * shape.n_embd, shape.n_embd)
        self.dropout = nn.Dropout(shape.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.c_proj(F.gelu(self.c_fc(x))))


class Block(nn.Module):
    """Pre-LN block: x + attn(ln(x)), then x + mlp(ln(x))."""

    def __init__(self, shape: GPTShape) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(shape.n_embd)
        self.attn = CausalSelfAttention(shape)
        self.ln_2 = nn.LayerNorm(shape.n_embd)
        self.mlp = MLP(shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    """Token ids (batch, time) -> next-token logits (batch, time, vocab)."""

    def __init__(self, shape: GPTShape) -> None:
        super().__init__()
        shape.validate()
        self.shape = shape
        self.wte = nn.Embedding(shape.vocab_size, shape.n_embd)
        self.wpe = nn.Embedding(shape.seq_len, shape.n_embd) if shape.positional == "learned" \
            else None
        self.drop = nn.Dropout(shape.dropout)
        self.blocks = nn.ModuleList(Block(shape) for _ in range(shape.n_layer))
        self.ln_f = nn.LayerNorm(shape.n_embd)
        self.lm_head = nn.Linear(shape.n_embd, shape.vocab_size, bias=False)
        if shape.tie_embeddings:
            self.lm_head.weight = self.wte.weight
        self.apply(self._init_weights)
        scaled_std = INIT_STD / math.sqrt(2 * shape.n_layer)
        for name, param in self.named_parameters():
            if name.endswith("c_proj.weight"):
                nn.init.normal_(param, mean=0.0, std=scaled_std)

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=INIT_STD)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=INIT_STD)

    def num_parameters(self) -> int:
        """Distinct parameters (a tied embedding counts once)."""
        return sum(p.numel() for p in self.parameters())

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        length = idx.size(1)
        if length > self.shape.seq_len:
            raise ValueError(f"sequence of {length} tokens exceeds seq_len={self.shape.seq_len}")
        x = self.wte(idx)
        if self.wpe is not None:
            x = x + self.wpe(torch.arange(length, device=idx.device))
        x = self.drop(x)
        for block in self.blocks:
            x = block(x)
        return self.lm_head(self.ln_f(x))
