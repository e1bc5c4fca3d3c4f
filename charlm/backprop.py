"""Backpropagation by hand for the Chapter 4 network: every gradient written out (Chapter 4).

The network is Chapter 3's MLP with BatchNorm, broken into the lecture's elementary steps so
that each one has a simple local derivative. ``forward`` returns every intermediate tensor;
``backward`` returns the gradient of the loss with respect to each of them and to every
parameter, computed with no autograd at all; ``compare`` checks them against autograd.
``cross_entropy_backward`` and ``batchnorm_backward`` are the fused forms, one expression
each, and ``train_manual`` trains the network with them alone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from charlm.train import TrainConfig, TrainResult, train

PARAMS = ("C", "W1", "b1", "W2", "b2", "bngain", "bnbias")
# every intermediate of ``forward``, in the order it computes them
STEPS = (
    "emb", "embcat", "hprebn", "bnmeani", "bndiff", "bndiff2", "bnvar", "bnvar_inv", "bnraw",
    "hpreact", "h", "logits", "logit_maxes", "norm_logits", "counts", "counts_sum",
    "counts_sum_inv", "probs", "logprobs", "loss",
)  # fmt: skip
# the lecture drew the BatchNorm gain and bias from torch's global generator, unseeded, so
# those draws cannot be repeated; a generator with this fixed seed stands in for it
BN_SEED = 67280421310721


@dataclass(frozen=True)
class BackpropConfig:
    """Sizes of the Chapter 4 network (the lecture's exercise uses n_hidden=64)."""

    vocab_size: int = 27  # number of tokens
    block_size: int = 3  # characters of context
    n_embd: int = 10  # embedding size
    n_hidden: int = 64  # hidden units (200 for the training run)

    def __post_init__(self) -> None:
        for name in ("vocab_size", "block_size", "n_embd", "n_hidden"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"BackpropConfig.{name} must be a positive integer, got {value!r}")


def init_params(
    config: BackpropConfig,
    generator: torch.Generator,
    bn_generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
) -> dict[str, torch.Tensor]:
    """The lecture's initialisation (Chapter 4), as float32 or float64 tensors.

    C, W1, b1, W2, b2 come from ``generator`` in that order. The lecture drew the BatchNorm
    gain and bias from torch's unseeded global generator; ``bn_generator`` stands in for
    it, by default one seeded with ``BN_SEED``.
    """
    if bn_generator is None:
        bn_generator = torch.Generator().manual_seed(BN_SEED)
    V, T, E, H = config.vocab_size, config.block_size, config.n_embd, config.n_hidden
    g = generator
    p = {
        "C": torch.randn((V, E), generator=g),
        "W1": torch.randn((T * E, H), generator=g) * (5 / 3) / ((T * E) ** 0.5),
        "b1": torch.randn(H, generator=g) * 0.1,  # useless before BatchNorm; kept for the exercise
        "W2": torch.randn((H, V), generator=g) * 0.1,
        "b2": torch.randn(V, generator=g) * 0.1,
        "bngain": torch.randn((1, H), generator=bn_generator) * 0.1 + 1.0,
        "bnbias": torch.randn((1, H), generator=bn_generator) * 0.1,
    }
    return {k: v.to(dtype) for k, v in p.items()}


def forward(
    p: dict[str, torch.Tensor], X: torch.Tensor, Y: torch.Tensor, eps: float = 1e-5
) -> dict[str, torch.Tensor]:
    """The loss of one batch, one elementary step at a time; returns every intermediate."""
    n = X.shape[0]
    t: dict[str, torch.Tensor] = {}
    t["emb"] = p["C"][X]  # (n, T, E)
    t["embcat"] = t["emb"].view(n, -1)  # (n, T*E)
    t["hprebn"] = t["embcat"] @ p["W1"] + p["b1"]  # (n, H)
    t["bnmeani"] = 1 / n * t["hprebn"].sum(0, keepdim=True)  # (1, H)
    t["bndiff"] = t["hprebn"] - t["bnmeani"]  # (n, H)
    t["bndiff2"] = t["bndiff"] ** 2  # (n, H)
    t["bnvar"] = 1 / (n - 1) * t["bndiff2"].sum(0, keepdim=True)  # (1, H), Bessel's correction
    t["bnvar_inv"] = (t["bnvar"] + eps) ** -0.5  # (1, H)
    t["bnraw"] = t["bndiff"] * t["bnvar_inv"]  # (n, H)
    t["hpreact"] = p["bngain"] * t["bnraw"] + p["bnbias"]  # (n, H)
    t["h"] = torch.tanh(t["hpreact"])  # (n, H)
    t["logits"] = t["h"] @ p["W2"] + p["b2"]  # (n, V)
    t["logit_maxes"] = t["logits"].max(1, keepdim=True).values  # (n, 1)
    t["norm_logits"] = t["logits"] - t["logit_maxes"]  # (n, V): for numerical safety only
    t["counts"] = t["norm_logits"].exp()  # (n, V)
    t["counts_sum"] = t["counts"].sum(1, keepdim=True)  # (n, 1)
    t["counts_sum_inv"] = t["counts_sum"] ** -1  # (n, 1)
    t["probs"] = t["counts"] * t["counts_sum_inv"]  # (n, V)
    t["logprobs"] = t["probs"].log()  # (n, V)
    t["loss"] = -t["logprobs"][torch.arange(n), Y].mean()  # ()
    return t


def backward(
    p: dict[str, torch.Tensor],
    t: dict[str, torch.Tensor],
    X: torch.Tensor,
    Y: torch.Tensor,
    eps: float = 1e-5,
) -> dict[str, torch.Tensor]:
    """Gradient of the loss for every intermediate of ``forward`` and every parameter.

    Each line applies the chain rule to one step of ``forward``, from the loss back to the
    embedding table: local derivative times the gradient flowing in. A tensor used twice
    (``bndiff``, ``counts``, ``logits``, ``hprebn``) sums the gradients of both uses.
    ``eps`` must be the one ``forward`` was given.
    """
    n = X.shape[0]
    d: dict[str, torch.Tensor] = {}
    # --- stage: cross-entropy ---
    d["logprobs"] = torch.zeros_like(t["logprobs"])
    d["logprobs"][torch.arange(n), Y] = -1.0 / n
    d["probs"] = (1.0 / t["probs"]) * d["logprobs"]
    d["counts_sum_inv"] = (t["counts"] * d["probs"]).sum(1, keepdim=True)
    d["counts"] = t["counts_sum_inv"] * d["probs"]
    d["counts_sum"] = (-(t["counts_sum"] ** -2)) * d["counts_sum_inv"]
    d["counts"] = d["counts"] + torch.ones_like(t["counts"]) * d["counts_sum"]
    d["norm_logits"] = t["counts"] * d["counts"]
    d["logit_maxes"] = (-d["norm_logits"]).sum(1, keepdim=True)
    d["logits"] = d["norm_logits"].clone()
    argmax = F.one_hot(t["logits"].max(1).indices, num_classes=t["logits"].shape[1])
    d["logits"] += argmax * d["logit_maxes"]
    # --- end: cross-entropy ---
    # --- stage: second layer ---
    d["h"] = d["logits"] @ p["W2"].T
    d["W2"] = t["h"].T @ d["logits"]
    d["b2"] = d["logits"].sum(0)
    # --- end: second layer ---
    # --- stage: tanh ---
    d["hpreact"] = (1.0 - t["h"] ** 2) * d["h"]
    # --- end: tanh ---
    # --- stage: batchnorm ---
    d["bngain"] = (t["bnraw"] * d["hpreact"]).sum(0, keepdim=True)
    d["bnraw"] = p["bngain"] * d["hpreact"]
    d["bnbias"] = d["hpreact"].sum(0, keepdim=True)
    d["bndiff"] = t["bnvar_inv"] * d["bnraw"]
    d["bnvar_inv"] = (t["bndiff"] * d["bnraw"]).sum(0, keepdim=True)
    d["bnvar"] = (-0.5 * (t["bnvar"] + eps) ** -1.5) * d["bnvar_inv"]
    d["bndiff2"] = (1.0 / (n - 1)) * torch.ones_like(t["bndiff2"]) * d["bnvar"]
    d["bndiff"] += (2 * t["bndiff"]) * d["bndiff2"]
    d["hprebn"] = d["bndiff"].clone()
    d["bnmeani"] = (-d["bndiff"]).sum(0, keepdim=True)
    d["hprebn"] += 1.0 / n * (torch.ones_like(t["hprebn"]) * d["bnmeani"])
    # --- end: batchnorm ---
    # --- stage: first layer ---
    d["embcat"] = d["hprebn"] @ p["W1"].T
    d["W1"] = t["embcat"].T @ d["hprebn"]
    d["b1"] = d["hprebn"].sum(0)
    # --- end: first layer ---
    # --- stage: embedding ---
    d["emb"] = d["embcat"].view(t["emb"].shape)
    d["C"] = torch.zeros_like(p["C"])
    d["C"].index_add_(0, X.view(-1), d["emb"].view(-1, p["C"].shape[1]))  # rows used twice add
    # --- end: embedding ---
    return d


def cross_entropy_backward(logits: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
    """d loss / d logits of the mean cross-entropy, fused: (softmax - one_hot) / n."""
    n = logits.shape[0]
    dlogits = F.softmax(logits, 1)
    dlogits[torch.arange(n), Y] -= 1
    dlogits /= n
    return dlogits


def batchnorm_backward(
    dhpreact: torch.Tensor, bngain: torch.Tensor, bnvar_inv: torch.Tensor, bnraw: torch.Tensor
) -> torch.Tensor:
    """d loss / d hprebn through BatchNorm (Bessel-corrected variance), fused in one line."""
    n = dhpreact.shape[0]
    return (
        bngain
        * bnvar_inv
        / n
        * (n * dhpreact - dhpreact.sum(0) - n / (n - 1) * bnraw * (dhpreact * bnraw).sum(0))
    )


def autograd_grads(
    p: dict[str, torch.Tensor], X: torch.Tensor, Y: torch.Tensor, eps: float = 1e-5
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """``forward`` and ``loss.backward()``: (intermediates, their gradients and the params')."""
    leaves = {k: v.detach().clone().requires_grad_() for k, v in p.items()}
    t = forward(leaves, X, Y, eps)
    for v in t.values():
        v.retain_grad()
    t["loss"].backward()
    grads = {k: v.grad for k, v in t.items() if k != "loss"}
    grads.update({k: v.grad for k, v in leaves.items()})
    return {k: v.detach() for k, v in t.items()}, grads


@dataclass(frozen=True)
class Comparison:
    """How one manual gradient compares with autograd's (Chapter 4)."""

    name: str
    shape: tuple[int, ...]
    exact: bool  # every element bit-identical
    close: bool  # torch.allclose with its default tolerances
    max_diff: float  # largest absolute difference


def compare(
    manual: dict[str, torch.Tensor], reference: dict[str, torch.Tensor]
) -> list[Comparison]:
    """One ``Comparison`` per tensor of ``manual``, against the same name in ``reference``."""
    rows = []
    for name, dt in manual.items():
        ref = reference[name]
        if dt.shape != ref.shape:
            raise ValueError(f"{name}: shape {tuple(dt.shape)} != {tuple(ref.shape)}")
        rows.append(
            Comparison(
                name,
                tuple(dt.shape),
                bool(torch.equal(dt, ref)),
                bool(torch.allclose(dt, ref)),
                (dt - ref).abs().max().item(),
            )
        )
    return rows


class ManualMLP(nn.Module):
    """The Chapter 4 network as a model: ``idx (B, T) -> logits (B, V)`` (Chapter 4).

    In training mode BatchNorm uses the batch's statistics; in eval mode the stored
    ``bnmean`` and ``bnvar``, set by ``calibrate`` after training, as the lecture does.
    Its parameters do not require gradients: ``train_manual`` trains it without autograd.
    """

    def __init__(self, params: dict[str, torch.Tensor], eps: float = 1e-5) -> None:
        super().__init__()
        for name in PARAMS:
            setattr(self, name, nn.Parameter(params[name].clone(), requires_grad=False))
        H = params["W1"].shape[1]
        self.register_buffer("bnmean", torch.zeros((1, H), dtype=params["W1"].dtype))
        self.register_buffer("bnvar", torch.ones((1, H), dtype=params["W1"].dtype))
        self.eps = eps
        self.block_size = params["W1"].shape[0] // params["C"].shape[1]

    @property
    def params(self) -> dict[str, torch.Tensor]:
        return {name: getattr(self, name) for name in PARAMS}

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        embcat = self.C[idx].view(idx.shape[0], -1)  # (B, T*E)
        hprebn = embcat @ self.W1 + self.b1  # (B, H)
        if self.training:
            mean = hprebn.mean(0, keepdim=True)
            var = hprebn.var(0, keepdim=True, unbiased=True)
        else:
            mean, var = self.bnmean, self.bnvar
        hpreact = self.bngain * (hprebn - mean) * (var + self.eps) ** -0.5 + self.bnbias
        return torch.tanh(hpreact) @ self.W2 + self.b2  # (B, V)

    @torch.no_grad()
    def calibrate(self, X: torch.Tensor) -> None:
        """Set the BatchNorm statistics to the mean and variance over all of ``X``."""
        hprebn = self.C[X].view(X.shape[0], -1) @ self.W1 + self.b1
        self.bnmean.copy_(hprebn.mean(0, keepdim=True))
        self.bnvar.copy_(hprebn.var(0, keepdim=True, unbiased=True))


def _fused_forward(p: dict[str, torch.Tensor], X: torch.Tensor, eps: float):
    """The forward pass of training, in the few steps the fused backward needs."""
    n = X.shape[0]
    emb = p["C"][X]  # (n, T, E)
    embcat = emb.view(n, -1)  # (n, T*E)
    hprebn = embcat @ p["W1"] + p["b1"]  # (n, H)
    bnmean = hprebn.mean(0, keepdim=True)  # (1, H)
    bnvar = hprebn.var(0, keepdim=True, unbiased=True)  # (1, H)
    bnvar_inv = (bnvar + eps) ** -0.5
    bnraw = (hprebn - bnmean) * bnvar_inv  # (n, H)
    hpreact = p["bngain"] * bnraw + p["bnbias"]
    h = torch.tanh(hpreact)  # (n, H)
    logits = h @ p["W2"] + p["b2"]  # (n, V)
    return embcat, bnvar_inv, bnraw, h, logits


def manual_step(
    p: dict[str, torch.Tensor], X: torch.Tensor, Y: torch.Tensor, eps: float = 1e-5
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Loss and parameter gradients of one batch, by the fused backward pieces (Chapter 4)."""
    embcat, bnvar_inv, bnraw, h, logits = _fused_forward(p, X, eps)
    loss = F.cross_entropy(logits, Y)
    g: dict[str, torch.Tensor] = {}
    dlogits = cross_entropy_backward(logits, Y)  # (n, V)
    dh = dlogits @ p["W2"].T  # (n, H)
    g["W2"] = h.T @ dlogits
    g["b2"] = dlogits.sum(0)
    dhpreact = (1.0 - h**2) * dh
    g["bngain"] = (bnraw * dhpreact).sum(0, keepdim=True)
    g["bnbias"] = dhpreact.sum(0, keepdim=True)
    dhprebn = batchnorm_backward(dhpreact, p["bngain"], bnvar_inv, bnraw)  # (n, H)
    dembcat = dhprebn @ p["W1"].T  # (n, T*E)
    g["W1"] = embcat.T @ dhprebn
    g["b1"] = dhprebn.sum(0)
    g["C"] = torch.zeros_like(p["C"])
    g["C"].index_add_(0, X.view(-1), dembcat.view(-1, p["C"].shape[1]))
    return loss, g


def autograd_step(
    p: dict[str, torch.Tensor], X: torch.Tensor, Y: torch.Tensor, eps: float = 1e-5
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The same loss and gradients as ``manual_step``, by ``loss.backward()`` (Chapter 4)."""
    with torch.enable_grad():
        for v in p.values():
            v.requires_grad_(True)
            v.grad = None
        logits = _fused_forward(p, X, eps)[-1]
        loss = F.cross_entropy(logits, Y)
        loss.backward()
    grads = {k: v.grad for k, v in p.items()}
    for v in p.values():
        v.requires_grad_(False)
    return loss.detach(), grads


@torch.no_grad()
def train_manual(
    model: ManualMLP,
    X: torch.Tensor,
    Y: torch.Tensor,
    config: TrainConfig,
    generator: torch.Generator,
    step: Callable = manual_step,
) -> TrainResult:
    """Chapter 1's training loop with hand-written gradients: no autograd anywhere (Ch. 4).

    ``step`` computes (loss, gradients) of a batch: ``manual_step`` by default;
    ``autograd_step`` does the same work with autograd, for comparison. The update is the
    lectures' ``p += -lr * grad``, and ``train`` runs it for every batch.
    """
    if config.batch_size is None:
        raise ValueError("train_manual samples minibatches: set TrainConfig.batch_size")

    def update(model: ManualMLP, Xb: torch.Tensor, Yb: torch.Tensor, lr: float) -> torch.Tensor:
        loss, grads = step(model.params, Xb, Yb, model.eps)
        for name, p in model.params.items():
            p += -lr * grads[name]
        return loss

    return train(model, X, Y, config, generator, step=update)
