"""Neural language models honouring ``idx (B, T) -> logits (B, vocab)`` (Chapter 2 on).

Each model is built from a small dataclass config and an explicit ``torch.Generator``;
the order in which parameters are drawn from it is part of the recipe, so the lectures'
seeded runs reproduce.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
import torch.nn as nn

from charlm.layers import BatchNorm1d, Embedding, Flatten, Linear, Sequential, Tanh


@dataclass(frozen=True)
class MLPConfig:
    """The Bengio et al. (2003) MLP of Chapters 2-3; invalid values raise ValueError.

    The scales multiply standard-normal draws, so the defaults are Chapter 2's plain
    ``randn`` initialisation and Chapter 3's fixes are config changes.
    """

    vocab_size: int = 27  # number of tokens, from the data's Vocab
    block_size: int = 3  # characters of context the model reads
    n_embd: int = 10  # size of each character's embedding vector
    n_hidden: int = 200  # tanh units in the hidden layer
    w1_scale: float = 1.0  # W1 = randn * w1_scale (Chapter 3: 0.2; 5/3 with w1_fan_in)
    w1_fan_in: bool = False  # then divide W1 by sqrt(fan_in): Kaiming init (Chapter 3)
    b1_scale: float = 1.0  # b1 = randn * b1_scale (no b1 at all with batchnorm)
    w2_scale: float = 1.0  # W2 = randn * w2_scale (Chapter 3: 0.01)
    b2_scale: float = 1.0  # b2 = randn * b2_scale (Chapter 3: 0; still drawn, to keep RNG order)
    batchnorm: bool = False  # normalise the hidden pre-activations over the batch (Chapter 3)
    bn_momentum: float = 0.001  # weight of each batch in the running mean and std

    def __post_init__(self) -> None:
        for name in ("vocab_size", "block_size", "n_embd", "n_hidden"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"MLPConfig.{name} must be a positive integer, got {value!r}")
        for name in ("w1_scale", "b1_scale", "w2_scale", "b2_scale"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value)):
                raise ValueError(f"MLPConfig.{name} must be a finite number, got {value!r}")
        if not 0 < self.bn_momentum <= 1:
            raise ValueError(f"MLPConfig.bn_momentum must be in (0, 1], got {self.bn_momentum!r}")

    def build(self, generator: torch.Generator) -> MLP:
        """A fresh MLP whose parameters are drawn from ``generator``."""
        return MLP(self, generator)


class MLP(nn.Module):
    """Embed each context character, concatenate, one tanh layer, then logits (Chapter 2).

    Parameters keep the lecture's names and are drawn from ``generator`` in its order, each
    a standard-normal draw times its scale: C, W1, b1, W2, b2. With ``batchnorm`` (Chapter
    3) there is no b1; a gain and a bias per hidden unit follow the batch normalisation,
    and running estimates of the mean and std serve at evaluation, exactly as the lecture
    computes them (std with Bessel's correction, no epsilon).
    """

    def __init__(self, config: MLPConfig, generator: torch.Generator) -> None:
        super().__init__()
        self.config = config
        self.block_size = config.block_size
        V, T, E, H = config.vocab_size, config.block_size, config.n_embd, config.n_hidden
        g = generator
        self.C = nn.Parameter(torch.randn((V, E), generator=g))  # embedding table
        W1 = torch.randn((T * E, H), generator=g) * config.w1_scale
        if config.w1_fan_in:
            W1 = W1 / (T * E) ** 0.5  # two roundings, in the lecture's order
        self.W1 = nn.Parameter(W1)
        if not config.batchnorm:
            self.b1 = nn.Parameter(torch.randn(H, generator=g) * config.b1_scale)
        self.W2 = nn.Parameter(torch.randn((H, V), generator=g) * config.w2_scale)
        self.b2 = nn.Parameter(torch.randn(V, generator=g) * config.b2_scale)
        if config.batchnorm:
            self.bngain = nn.Parameter(torch.ones((1, H)))
            self.bnbias = nn.Parameter(torch.zeros((1, H)))
            self.register_buffer("bnmean_running", torch.zeros((1, H)))
            self.register_buffer("bnstd_running", torch.ones((1, H)))

    def num_params(self) -> int:
        """Number of trainable numbers."""
        return sum(p.numel() for p in self.parameters())

    def hidden_preactivation(self, idx: torch.Tensor) -> torch.Tensor:
        """The hidden layer's input before tanh (and before BatchNorm): (B, T) -> (B, H)."""
        emb = self.C[idx]  # (B, T, E): row idx of C, the same as one_hot(idx) @ C
        embcat = emb.view(emb.shape[0], -1)  # (B, T*E)
        if self.config.batchnorm:
            return embcat @ self.W1  # (B, H): a bias here would be cancelled by BatchNorm
        return embcat @ self.W1 + self.b1  # (B, H)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        hpreact = self.hidden_preactivation(idx)  # (B, H)
        if self.config.batchnorm:
            hpreact = self._batchnorm(hpreact)
        h = torch.tanh(hpreact)  # (B, H)
        return h @ self.W2 + self.b2  # (B, V)

    def _batchnorm(self, hpreact: torch.Tensor) -> torch.Tensor:
        if not self.training:
            mean, std = self.bnmean_running, self.bnstd_running
            return self.bngain * (hpreact - mean) / std + self.bnbias
        bnmeani = hpreact.mean(0, keepdim=True)  # (1, H)
        bnstdi = hpreact.std(0, keepdim=True)  # (1, H), Bessel-corrected
        out = self.bngain * (hpreact - bnmeani) / bnstdi + self.bnbias
        with torch.no_grad():
            m = self.config.bn_momentum
            self.bnmean_running.copy_((1 - m) * self.bnmean_running + m * bnmeani)
            self.bnstd_running.copy_((1 - m) * self.bnstd_running + m * bnstdi)
        return out

    @torch.no_grad()
    def calibrate(self, X: torch.Tensor) -> None:
        """Set the BatchNorm statistics to the mean and std over all of ``X`` (Chapter 3)."""
        if not self.config.batchnorm:
            raise ValueError("calibrate needs an MLP built with batchnorm=True")
        hpreact = self.hidden_preactivation(X)  # (N, H)
        self.bnmean_running.copy_(hpreact.mean(0, keepdim=True))
        self.bnstd_running.copy_(hpreact.std(0, keepdim=True))


def fold_batchnorm(model: MLP) -> MLP:
    """An MLP without BatchNorm computing what ``model`` computes in eval mode (Chapter 3).

    At inference BatchNorm is a fixed affine map, so it folds into the layer before it:
    W1' = W1 * gain / std and b1' = bias - gain * mean / std.
    """
    if not model.config.batchnorm:
        raise ValueError("fold_batchnorm needs an MLP built with batchnorm=True")
    folded = MLP(replace(model.config, batchnorm=False), torch.Generator())
    scale = (model.bngain / model.bnstd_running).detach()  # (1, H)
    with torch.no_grad():
        folded.C.copy_(model.C)
        folded.W1.copy_(model.W1 * scale)
        folded.b1.copy_((model.bnbias - model.bnmean_running * scale).view(-1))
        folded.W2.copy_(model.W2)
        folded.b2.copy_(model.b2)
    return folded.eval()


@dataclass(frozen=True)
class DeepMLPConfig:
    """The deep MLP of Chapter 3: embeddings, then n_layers of Linear-(BatchNorm)-Tanh."""

    vocab_size: int = 27  # number of tokens
    block_size: int = 3  # characters of context
    n_embd: int = 10  # embedding size
    n_hidden: int = 100  # width of every hidden layer
    n_layers: int = 5  # hidden Linear-(BatchNorm)-Tanh blocks before the output layer
    batchnorm: bool = True  # BatchNorm after every Linear, the output one included
    gain: float = 1.0  # extra factor on hidden weights (randn / sqrt(fan_in)); 5/3 suits tanh
    last_scale: float = 0.1  # shrinks the output: last BatchNorm's weight, or last Linear's

    def __post_init__(self) -> None:
        for name in ("vocab_size", "block_size", "n_embd", "n_hidden", "n_layers"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"DeepMLPConfig.{name} must be a positive integer, got {value!r}")
        if not (math.isfinite(self.gain) and self.gain > 0):
            raise ValueError(f"DeepMLPConfig.gain must be a finite number > 0, got {self.gain!r}")

    def build(self, generator: torch.Generator) -> Sequential:
        """The network as a ``Sequential``, drawn from ``generator`` layer by layer."""
        g, H = generator, self.n_hidden
        layers: list[nn.Module] = [
            Embedding(self.vocab_size, self.n_embd, generator=g),
            Flatten(),
        ]
        fan_in = self.n_embd * self.block_size
        for _ in range(self.n_layers):
            layers.append(Linear(fan_in, H, bias=not self.batchnorm, generator=g))
            if self.batchnorm:
                layers.append(BatchNorm1d(H, unbiased=True))  # the lecture's layer
            layers.append(Tanh())
            fan_in = H
        layers.append(Linear(H, self.vocab_size, bias=not self.batchnorm, generator=g))
        if self.batchnorm:
            layers.append(BatchNorm1d(self.vocab_size, unbiased=True))
        with torch.no_grad():
            # the last layer is the output BatchNorm (its gain) or the output Linear
            layers[-1].weight *= self.last_scale  # less confident logits at init
            for layer in layers[:-1]:  # as the lecture: every Linear before the last layer
                if isinstance(layer, Linear):
                    layer.weight *= self.gain
        return Sequential(layers, block_size=self.block_size)
