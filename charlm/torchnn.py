"""Our hand-written layers rebuilt from ``torch.nn`` modules, weights copied (Chapter 5).

Chapter 5's section "torch.nn side by side" takes a ``Sequential`` of ``charlm.layers``
(the hierarchical WaveNet, or Chapter 3's deep MLP) and builds the same network from
``torch.nn`` parts: ``to_torch_nn(model)[i]`` is the counterpart of ``model.layers[i]``.
Two layouts differ. ``torch.nn.Linear`` stores the transpose of our (fan_in, fan_out)
weight, and ``torch.nn.BatchNorm1d`` wants its channels in dimension 1 where our layers,
like the lecture, keep them last; ``ChannelsFirst`` bridges the second.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from charlm.layers import (
    BatchNorm1d,
    Embedding,
    Flatten,
    FlattenConsecutive,
    Linear,
    Sequential,
    Tanh,
)


class ChannelsFirst(nn.Module):
    """Run a channels-first module on channels-last input: (B, T, C) -> (B, C, T) and back.

    ``torch.nn.BatchNorm1d`` normalises dimension 1, so it takes (B, C) or (B, C, L); our
    layers keep channels last, (B, T, C), as the lecture does. A 3-D input is transposed,
    passed through, and transposed back; a 2-D input (B, C) is already in both layouts and
    passes straight through.
    """

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim == 3:
            return self.module(x.transpose(1, 2)).transpose(1, 2)  # (B, T, C)
        return self.module(x)


def to_torch_nn(model: Sequential) -> nn.Sequential:
    """The same network as ``model``, built from ``torch.nn`` modules with copies of its weights.

    Layer i becomes module i, in the same train or eval mode: ``nn.Embedding``,
    ``nn.Linear`` (weight transposed), ``ChannelsFirst(nn.BatchNorm1d)`` (running
    statistics too), ``nn.Tanh``, ``nn.Flatten``; FlattenConsecutive(n) becomes
    ``nn.Unflatten`` (T -> (T/n, n)) then ``nn.Flatten`` (n steps into the channels, and
    the T/n axis too when it is 1: our squeeze), with T counted from ``model.block_size``.
    Other layers, and ones torch.nn cannot express (BatchNorm1d(reduce_time=False) on 3-D
    input), raise ValueError.

    The same: parameter count, and eval-mode logits to float32 rounding. Different: in
    training mode ``nn.BatchNorm1d`` normalises by the biased variance (divide by n), the
    lecture's ``BatchNorm1d(unbiased=True)`` by the unbiased one (n - 1), so training-mode
    outputs differ slightly unless the source layers were built with ``unbiased=False``.
    """
    if not isinstance(model, Sequential):
        raise TypeError(f"to_torch_nn converts a charlm.layers.Sequential, not {type(model)}")
    steps = model.block_size  # time steps of the activations; 0 once they are (B, C)
    modules: list[nn.Module] = []
    for i, layer in enumerate(model.layers):
        name = f"layer {i}, {type(layer).__name__}"
        if isinstance(layer, Embedding):
            out = _embedding(layer)
        elif isinstance(layer, Linear):
            out = _linear(layer)
        elif isinstance(layer, BatchNorm1d):
            if not layer.reduce_time and steps != 0:
                raise ValueError(
                    f"cannot convert {name}(reduce_time=False): on (B, T, C) input it keeps "
                    "one statistic per position, which torch.nn.BatchNorm1d does not"
                )
            out = ChannelsFirst(_batchnorm(layer))
        elif isinstance(layer, Tanh):
            out = nn.Tanh()
        elif isinstance(layer, Flatten):
            out, steps = nn.Flatten(), 0
        elif isinstance(layer, FlattenConsecutive):
            out, steps = _flatten_consecutive(layer.n, steps, name)
        else:
            raise ValueError(f"cannot convert {name}: no torch.nn counterpart known")
        modules.append(out.train(layer.training))
    converted = nn.Sequential(*modules)
    converted.training = model.training  # the container's flag; each module has its own
    return converted


def _embedding(layer: Embedding) -> nn.Embedding:
    w = layer.weight
    emb = nn.utils.skip_init(nn.Embedding, *w.shape, device=w.device, dtype=w.dtype)
    _copy(emb.weight, w)
    return emb


def _linear(layer: Linear) -> nn.Linear:
    w = layer.weight  # (fan_in, fan_out); nn.Linear keeps (fan_out, fan_in)
    has_bias = layer.bias is not None
    lin = nn.utils.skip_init(
        nn.Linear, *w.shape, bias=has_bias, device=w.device, dtype=w.dtype
    )  # no random draws: every value is overwritten below
    _copy(lin.weight, w, transpose=True)
    if has_bias:
        _copy(lin.bias, layer.bias)
    return lin


def _batchnorm(layer: BatchNorm1d) -> nn.BatchNorm1d:
    w = layer.weight
    C = w.shape[0]
    bn = nn.BatchNorm1d(
        C, eps=layer.eps, momentum=layer.momentum, device=w.device, dtype=w.dtype
    )  # weight 1, bias 0, statistics 0 and 1: nothing drawn
    _copy(bn.weight, w)
    _copy(bn.bias, layer.bias)
    with torch.no_grad():
        for stat in ("running_mean", "running_var"):
            ours = getattr(layer, stat)
            if ours.numel() != C:
                raise ValueError(f"BatchNorm1d.{stat} has shape {tuple(ours.shape)}, not ({C},)")
            getattr(bn, stat).copy_(ours.reshape(C))
    return bn


def _flatten_consecutive(n: int, steps: int | None, name: str) -> tuple[nn.Sequential, int]:
    """(B, T, C) -> (B, T/n, n, C) -> (B, T/n, n*C), or (B, n*C) when T/n is 1."""
    if steps is None:
        raise ValueError(f"cannot convert {name}: the model has no block_size to count T")
    if steps == 0 or steps % n:
        got = "2-D input" if steps == 0 else f"{steps} time steps, not divisible by {n}"
        raise ValueError(f"cannot convert {name}({n}): it would get {got}")
    groups = steps // n
    merge = nn.Flatten(2) if groups > 1 else nn.Flatten(1)  # Flatten(1) squeezes T/n = 1 too
    return nn.Sequential(nn.Unflatten(1, (groups, n)), merge), (groups if groups > 1 else 0)


def _copy(dst: nn.Parameter, src: nn.Parameter, transpose: bool = False) -> None:
    """Copy a parameter's values (not the tensor itself) and whether it learns."""
    with torch.no_grad():
        dst.copy_(src.T if transpose else src)
    dst.requires_grad_(src.requires_grad)
