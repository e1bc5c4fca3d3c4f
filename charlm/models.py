"""Neural language models honouring ``idx (B, T) -> logits (B, vocab)`` (Chapter 2 on).

Each model is built from a small dataclass config and an explicit ``torch.Generator``;
the order in which parameters are drawn from it is part of the recipe, so the lectures'
seeded runs reproduce.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, replace

import torch
import torch.nn as nn

from charlm.kernels import FastTanh, FusedBatchNorm1d
from charlm.layers import (
    BatchNorm1d,
    Embedding,
    Flatten,
    FlattenConsecutive,
    Linear,
    Sequential,
    Tanh,
)


def num_params(model: nn.Module) -> int:
    """How many numbers a model learns: every parameter's elements, any model (Chapter 2)."""
    return sum(p.numel() for p in model.parameters())


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
    direct: bool = False  # Bengio et al.'s direct connections: embeddings -> logits too
    activation: str = "tanh"  # the hidden nonlinearity: "tanh" or "relu" (Chapter 3)
    layernorm: bool = False  # normalise each example over its hidden units instead (Chapter 3)

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
        if self.activation not in ("tanh", "relu"):
            raise ValueError(
                f"MLPConfig.activation must be 'tanh' or 'relu', got {self.activation!r}"
            )
        if self.batchnorm and self.layernorm:
            raise ValueError("MLPConfig: batchnorm and layernorm are alternatives; choose one")

    def build(self, generator: torch.Generator) -> MLP:
        """A fresh MLP whose parameters are drawn from ``generator``."""
        return MLP(self, generator)


class MLP(nn.Module):
    """Embed each context character, concatenate, one tanh layer, then logits (Chapter 2).

    Parameters keep the lecture's names and are drawn from ``generator`` in its order, each
    a standard-normal draw times its scale: C, W1, b1, W2, b2. With ``batchnorm`` (Chapter
    3) there is no b1; a gain and a bias per hidden unit follow the batch normalisation,
    and running estimates of the mean and std serve at evaluation, exactly as the lecture
    computes them (std with Bessel's correction, no epsilon). With ``layernorm`` (Chapter 3)
    each example is normalised over its own hidden units instead, with the same gain and
    bias and no running statistics. With ``direct`` (an exercise of Chapter 2) a matrix
    Wd, starting at zero and drawn from nothing, also maps the concatenated embeddings
    straight to the logits.
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
        if not self.normalised:
            self.b1 = nn.Parameter(torch.randn(H, generator=g) * config.b1_scale)
        self.W2 = nn.Parameter(torch.randn((H, V), generator=g) * config.w2_scale)
        self.b2 = nn.Parameter(torch.randn(V, generator=g) * config.b2_scale)
        if self.normalised:
            self.bngain = nn.Parameter(torch.ones((1, H)))
            self.bnbias = nn.Parameter(torch.zeros((1, H)))
        if config.batchnorm:
            self.register_buffer("bnmean_running", torch.zeros((1, H)))
            self.register_buffer("bnstd_running", torch.ones((1, H)))
        if config.direct:
            self.Wd = nn.Parameter(torch.zeros((T * E, V)))  # embeddings -> logits

    @property
    def normalised(self) -> bool:
        """Whether BatchNorm or LayerNorm follows W1 (then there is no b1)."""
        return self.config.batchnorm or self.config.layernorm

    def hidden_preactivation(self, idx: torch.Tensor) -> torch.Tensor:
        """The hidden layer's input before tanh (and before BatchNorm): (B, T) -> (B, H)."""
        emb = self.C[idx]  # (B, T, E): row idx of C, the same as one_hot(idx) @ C
        embcat = emb.view(emb.shape[0], -1)  # (B, T*E)
        if self.normalised:
            return embcat @ self.W1  # (B, H): a bias here would be cancelled by BatchNorm
        return embcat @ self.W1 + self.b1  # (B, H)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        hpreact = self.hidden_preactivation(idx)  # (B, H)
        if self.config.batchnorm:
            hpreact = self._batchnorm(hpreact)
        elif self.config.layernorm:
            hpreact = self._layernorm(hpreact)
        h = torch.relu(hpreact) if self.config.activation == "relu" else torch.tanh(hpreact)
        logits = h @ self.W2 + self.b2  # (B, V)
        if self.config.direct:
            embcat = self.C[idx].view(idx.shape[0], -1)  # (B, T*E)
            logits = logits + embcat @ self.Wd  # (B, V): a path around the hidden layer
        return logits

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

    def _layernorm(self, hpreact: torch.Tensor) -> torch.Tensor:
        mean = hpreact.mean(1, keepdim=True)  # (B, 1): over this example's units
        var = hpreact.var(1, keepdim=True, unbiased=False)  # (B, 1)
        return self.bngain * (hpreact - mean) / torch.sqrt(var + 1e-5) + self.bnbias

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
        if model.config.direct:
            folded.Wd.copy_(model.Wd)
    return folded.eval()


def fold_sequential(model: Sequential) -> Sequential:
    """``model`` without its BatchNorm layers, each folded into the Linear before it (Ch. 3).

    The same algebra as ``fold_batchnorm``, layer by layer: a Linear followed by a
    BatchNorm1d in eval mode becomes one Linear with weight ``W * s`` and bias
    ``(b - running_mean) * s + beta``, where ``s = gamma / sqrt(running_var + eps)``.
    Other layers are copied as they are. The result is in eval mode.
    """
    layers: list[nn.Module] = []
    for layer in model.layers:
        if isinstance(layer, BatchNorm1d):
            if not layers or not isinstance(layers[-1], Linear):
                raise ValueError("fold_sequential: a BatchNorm1d must follow a Linear")
            linear = layers[-1]
            fan_in, fan_out = linear.weight.shape
            folded = Linear(fan_in, fan_out, bias=True, generator=torch.Generator())
            with torch.no_grad():
                s = layer.weight / torch.sqrt(layer.running_var + layer.eps)  # (fan_out,)
                b = linear.bias if linear.bias is not None else torch.zeros(fan_out)
                folded.weight.copy_(linear.weight * s)
                folded.bias.copy_((b - layer.running_mean) * s + layer.bias)
            layers[-1] = folded
        else:
            layers.append(_copy_layer(layer))
    return Sequential(layers, block_size=model.block_size).eval()


def _copy_layer(layer: nn.Module) -> nn.Module:
    """A deep copy of ``layer`` without the output it kept for diagnostics (part of a graph,
    which cannot be copied)."""
    kept = layer.__dict__.pop("out", None)
    try:
        return copy.deepcopy(layer)
    finally:
        if kept is not None:
            layer.out = kept


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
    linear: bool = False  # leave out every Tanh: a stack of linear maps (Chapter 3)

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
            if not self.linear:
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


@dataclass(frozen=True)
class WaveNetConfig:
    """The Chapter 5 models: a flat MLP or a WaveNet-style tree over the context.

    Hierarchical: characters are fused two at a time, then pairs of pairs, and so on:
    ``log2(block_size)`` levels of FlattenConsecutive(2)-Linear-BatchNorm-Tanh. Flat: all
    ``block_size`` embeddings are concatenated into one Linear-BatchNorm-Tanh layer.
    """

    vocab_size: int = 27  # number of tokens
    block_size: int = 8  # characters of context; a power of 2 for the hierarchical model
    n_embd: int = 24  # embedding size
    n_hidden: int = 128  # width of every hidden layer
    hierarchical: bool = True  # fuse characters two at a time (False: one flat layer)
    bn_reduce_time: bool = True  # False: the lecture's BatchNorm bug on 3-D input
    fast_kernels: bool = False  # Chapter 6: torch's BatchNorm kernel, tanh through sigmoid

    def __post_init__(self) -> None:
        for name in ("vocab_size", "block_size", "n_embd", "n_hidden"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"WaveNetConfig.{name} must be a positive integer, got {value!r}")
        if self.fast_kernels and not self.bn_reduce_time:
            raise ValueError("WaveNetConfig: fast_kernels needs bn_reduce_time=True")
        if self.hierarchical and self.block_size & (self.block_size - 1):
            raise ValueError(
                f"WaveNetConfig.block_size must be a power of 2 for the hierarchical model, "
                f"got {self.block_size}"
            )

    def tree_spans(self) -> list[list[tuple[int, int]]]:
        """Which context positions ``[start, end)`` each unit of each level reads (Chapter 5).

        Level 0 is the characters themselves; each level above fuses two neighbours of the
        one below, so level k's units each see 2**k characters. The flat model has one
        level above the characters, seeing all of them.
        """
        levels = [[(i, i + 1) for i in range(self.block_size)]]
        width = 1
        while width < self.block_size:
            width = 2 * width if self.hierarchical else self.block_size
            levels.append([(i, i + width) for i in range(0, self.block_size, width)])
        return levels

    def _batchnorm(self) -> BatchNorm1d:
        if self.fast_kernels:  # torch's layer and kernel: normalises by the biased variance
            return FusedBatchNorm1d(self.n_hidden)
        return BatchNorm1d(self.n_hidden, unbiased=True, reduce_time=self.bn_reduce_time)

    def _tanh(self) -> Tanh:
        return FastTanh() if self.fast_kernels else Tanh()

    def build(self, generator: torch.Generator) -> Sequential:
        """The network, drawn from ``generator`` layer by layer (the lecture: global seed 42)."""
        g, E, H = generator, self.n_embd, self.n_hidden
        layers: list[nn.Module] = [Embedding(self.vocab_size, E, generator=g)]

        def block(fan_in: int) -> list[nn.Module]:
            return [
                Linear(fan_in, H, bias=False, generator=g),
                self._batchnorm(),
                self._tanh(),
            ]

        if self.hierarchical:
            fan_in, groups = E, self.block_size
            while groups > 1:
                layers += [FlattenConsecutive(2), *block(2 * fan_in)]
                fan_in, groups = H, groups // 2
        else:
            layers += [FlattenConsecutive(self.block_size), *block(E * self.block_size)]
        layers.append(Linear(H, self.vocab_size, generator=g))
        with torch.no_grad():
            layers[-1].weight *= 0.1  # less confident predictions at initialisation
        return Sequential(layers, block_size=self.block_size)


class DilatedConvNet(nn.Module):
    """A trained hierarchical WaveNet rewritten with ``torch.nn.Conv1d`` (Chapter 5).

    Level k of the tree fuses two inputs 2**k steps apart, which is a convolution with
    kernel 2 and dilation 2**k. Run over a whole padded word, it computes the logits of
    every position at once: ``forward(seq (B, L)) -> logits (B, L - block_size + 1, V)``.
    BatchNorm uses its running statistics (eval mode), as at inference.
    """

    def __init__(self, model: Sequential) -> None:
        super().__init__()
        layers = list(model.layers)
        emb = layers[0]
        self.embedding = nn.Embedding.from_pretrained(emb.weight.detach().clone())
        stages: list[nn.Module] = []
        dilation = 1
        for layer in layers[1:-1]:
            if isinstance(layer, FlattenConsecutive):
                continue
            if isinstance(layer, Linear):
                fan_in, fan_out = layer.weight.shape
                conv = nn.Conv1d(fan_in // 2, fan_out, kernel_size=2, dilation=dilation, bias=False)
                with torch.no_grad():
                    # rows [0, C) of the Linear multiply the earlier step, [C, 2C) the later
                    w = layer.weight.detach().T.reshape(fan_out, 2, fan_in // 2)
                    conv.weight.copy_(w.transpose(1, 2))
                stages.append(conv)
                dilation *= 2
            elif isinstance(layer, BatchNorm1d):
                bn = nn.BatchNorm1d(layer.weight.shape[0], eps=layer.eps).eval()
                with torch.no_grad():
                    bn.weight.copy_(layer.weight)
                    bn.bias.copy_(layer.bias)
                    bn.running_mean.copy_(layer.running_mean.reshape(-1))
                    bn.running_var.copy_(layer.running_var.reshape(-1))
                stages.append(bn)
            elif isinstance(layer, Tanh):
                stages.append(nn.Tanh())
            else:
                raise ValueError(f"cannot convert {type(layer).__name__}")
        self.stages = nn.Sequential(*stages)
        last = layers[-1]
        self.head = nn.Conv1d(last.weight.shape[0], last.weight.shape[1], kernel_size=1)
        with torch.no_grad():
            self.head.weight.copy_(last.weight.detach().T.unsqueeze(-1))
            self.head.bias.copy_(last.bias.detach())
        self.block_size = model.block_size

    def forward(self, seq: torch.Tensor) -> torch.Tensor:
        x = self.embedding(seq).transpose(1, 2)  # (B, E, L)
        x = self.stages(x)  # (B, H, L - block_size + 1)
        return self.head(x).transpose(1, 2)  # (B, L - block_size + 1, V)
