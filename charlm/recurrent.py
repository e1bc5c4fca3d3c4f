"""Recurrent language models: a vanilla RNN and a GRU, written out (Chapter 7).

Both read the context one character at a time and carry a hidden state ``h`` from each
position to the next; the logits at position t come from the state after reading the
first t + 1 characters, so they predict at every position (``charlm.sequence``).

- The RNN (as a language model: Mikolov et al. 2010): ``h = tanh(x Wx + h Wh + b)``.
- The GRU (Cho et al. 2014) adds two gates computed from x and h: an update gate z that
  decides how much of the old state to keep, and a reset gate r that decides how much of
  it the candidate state may read. The gradient can then flow through ``z * h``, a path
  with no squashing, which lets it carry information over more steps than the RNN.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from charlm.layers import Dropout, Embedding, Linear
from charlm.sequence import SequenceModel


class RNNCell(nn.Module):
    """One step of the vanilla RNN: ``h' = tanh(x @ Wx + bx + h @ Wh + bh)`` (Chapter 7).

    The same arithmetic as ``torch.nn.RNNCell`` (which stores the transposed weights).
    """

    def __init__(self, n_in: int, n_hidden: int, *, generator: torch.Generator) -> None:
        super().__init__()
        self.x2h = Linear(n_in, n_hidden, generator=generator)
        self.h2h = Linear(n_hidden, n_hidden, generator=generator)

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.x2h(x) + self.h2h(h))  # (B, H)


class GRUCell(nn.Module):
    """One step of the gated recurrent unit (Cho et al. 2014), as torch computes it (Chapter 7).

    With ``x @ Wx + bx`` and ``h @ Wh + bh`` each split into three parts (r, z, n)::

        r = sigmoid(xr + hr)           # reset gate: how much of h the candidate reads
        z = sigmoid(xz + hz)           # update gate: how much of h to keep
        n = tanh(xn + r * hn)          # the candidate state
        h' = (1 - z) * n + z * h

    Cho et al. apply the reset gate to h before multiplying by the weights (``r * h`` inside
    ``Wh``); torch's ``nn.GRUCell`` and cuDNN apply it after (``r * hn``), which is what we
    do so that the tests can compare the two. Both are the same model family.
    """

    def __init__(self, n_in: int, n_hidden: int, *, generator: torch.Generator) -> None:
        super().__init__()
        self.x2h = Linear(n_in, 3 * n_hidden, generator=generator)
        self.h2h = Linear(n_hidden, 3 * n_hidden, generator=generator)

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        xr, xz, xn = self.x2h(x).chunk(3, dim=-1)  # each (B, H)
        hr, hz, hn = self.h2h(h).chunk(3, dim=-1)
        r = torch.sigmoid(xr + hr)
        z = torch.sigmoid(xz + hz)
        n = torch.tanh(xn + r * hn)
        return (1 - z) * n + z * h  # (B, H)


@dataclass(frozen=True)
class RecurrentConfig:
    """A recurrent language model: embedding, a cell run over the context, a linear head."""

    cell: str = "gru"  # "rnn" (Mikolov et al. 2010) or "gru" (Cho et al. 2014)
    vocab_size: int = 27  # number of tokens
    block_size: int = 16  # characters of context (names are at most 15 long)
    n_embd: int = 64  # embedding size
    n_hidden: int = 128  # size of the hidden state
    dropout: float = 0.0  # probability of zeroing each input to the cell and to the head

    def __post_init__(self) -> None:
        if self.cell not in ("rnn", "gru"):
            raise ValueError(f'RecurrentConfig.cell must be "rnn" or "gru", got {self.cell!r}')
        for name in ("vocab_size", "block_size", "n_embd", "n_hidden"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise ValueError(
                    f"RecurrentConfig.{name} must be a positive integer, got {value!r}"
                )
        if not 0 <= self.dropout < 1:
            raise ValueError(f"RecurrentConfig.dropout must be in [0, 1), got {self.dropout!r}")

    def build(self, generator: torch.Generator) -> RecurrentLM:
        return RecurrentLM(self, generator)


class RecurrentLM(SequenceModel):
    """Embedding -> RNN or GRU cell at each position -> logits at each position (Chapter 7)."""

    def __init__(self, config: RecurrentConfig, generator: torch.Generator) -> None:
        super().__init__()
        g = generator
        self.config = config
        self.block_size = config.block_size
        self.embedding = Embedding(config.vocab_size, config.n_embd, generator=g)
        cell = RNNCell if config.cell == "rnn" else GRUCell
        self.cell = cell(config.n_embd, config.n_hidden, generator=g)
        self.start = nn.Parameter(torch.zeros(1, config.n_hidden))  # the state before reading
        self.head = Linear(config.n_hidden, config.vocab_size, generator=g)
        self.drop = Dropout(config.dropout, g)
        with torch.no_grad():
            self.head.weight *= 0.1  # less confident predictions at initialisation

    def all_logits(self, idx: torch.Tensor) -> torch.Tensor:
        B, T = idx.shape
        x = self.drop(self.embedding(idx))  # (B, T, E)
        h = self.start.expand(B, -1)  # (B, H)
        states = []
        for t in range(T):
            h = self.cell(x[:, t], h)  # (B, H): has read idx[:, :t + 1]
            states.append(h)
        return self.head(self.drop(torch.stack(states, dim=1)))  # (B, T, V)
