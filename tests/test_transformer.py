"""The causal Transformer of Chapter 7 (charlm.transformer): its parts against torch,
causality, configs, seeding and a short training run.

Tolerances: float32 throughout. LayerNorm and attention agree with ``torch.nn.LayerNorm``
and ``F.scaled_dot_product_attention`` to atol 1e-6 / rtol 1e-5, values and gradients:
the same arithmetic in another order, so bit equality is not expected. Causality is
checked exactly: a later character must leave earlier positions' logits bit for bit the
same, and the attention weights above the diagonal must be exactly zero.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from charlm.data import build_dataset
from charlm.optim import AdamWConfig
from charlm.train import train
from charlm.transformer import CausalSelfAttention, LayerNorm, Transformer, TransformerConfig

ATOL, RTOL = 1e-6, 1e-5
SMALL = {"vocab_size": 27, "block_size": 8, "n_layer": 2, "n_head": 2, "n_embd": 16}


def close(a, b):
    """Equal up to float32 rounding: the absolute tolerance scales with the tensor's size
    (gradients summed over a batch reach ~10 here, so their last bits are ~1e-6)."""
    return torch.allclose(a, b, atol=ATOL * max(1.0, b.abs().max().item()), rtol=RTOL)


def test_layernorm_matches_torch():
    """LayerNorm is nn.LayerNorm on (B, T, C) with a non-trivial scale and shift: values, grads."""
    g = torch.Generator().manual_seed(0)
    ours, ref = LayerNorm(6), nn.LayerNorm(6)
    with torch.no_grad():
        ours.weight.copy_(torch.rand(6, generator=g) + 0.5)
        ours.bias.copy_(torch.randn(6, generator=g))
        ref.weight.copy_(ours.weight)
        ref.bias.copy_(ours.bias)
    x = torch.randn(3, 5, 6, generator=g) * 3 + 1  # (B, T, C), far from normalised
    w = torch.randn(3, 5, 6, generator=g)  # a random upstream gradient
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    y1, y2 = ours(x1), ref(x2)
    assert close(y1, y2)
    (y1 * w).sum().backward()
    (y2 * w).sum().backward()
    assert close(x1.grad, x2.grad)
    assert close(ours.weight.grad, ref.weight.grad)
    assert close(ours.bias.grad, ref.bias.grad)


def _sdpa_reference(attn: CausalSelfAttention, x: torch.Tensor) -> torch.Tensor:
    """The same qkv projection, torch's fused causal attention, the same output projection."""
    B, T, C = x.shape
    hs = C // attn.n_head
    q, k, v = attn.qkv(x).split(C, dim=-1)
    q, k, v = (t.view(B, T, attn.n_head, hs).transpose(1, 2) for t in (q, k, v))
    y = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # (B, nh, T, hs)
    return attn.proj(y.transpose(1, 2).reshape(B, T, C))


@pytest.mark.parametrize("n_head", [1, 2, 4])
def test_attention_matches_scaled_dot_product_attention(n_head):
    """CausalSelfAttention is F.scaled_dot_product_attention(is_causal=True) between the
    same projections: values, and gradients w.r.t. the input and every parameter."""
    g = torch.Generator().manual_seed(1)
    attn = CausalSelfAttention(16, n_head, generator=g)
    with torch.no_grad():  # non-zero biases, so a mix-up of q, k and v would show
        attn.qkv.bias.copy_(torch.randn(48, generator=g) * 0.5)
        attn.proj.bias.copy_(torch.randn(16, generator=g) * 0.5)
    x = torch.randn(3, 6, 16, generator=g).requires_grad_()
    w = torch.randn(3, 6, 16, generator=g)
    params = [x, *attn.parameters()]
    y1 = attn(x)
    grads1 = torch.autograd.grad((y1 * w).sum(), params)
    y2 = _sdpa_reference(attn, x)
    grads2 = torch.autograd.grad((y2 * w).sum(), params)
    assert close(y1, y2)
    for a, b in zip(grads1, grads2):
        assert close(a, b)


def test_attention_weights_are_causal_distributions():
    """.att (B, heads, T, T): every row sums to 1 and is exactly zero above the diagonal."""
    g = torch.Generator().manual_seed(2)
    attn = CausalSelfAttention(16, 4, generator=g)
    attn(torch.randn(3, 7, 16, generator=g))
    att = attn.att
    assert att.shape == (3, 4, 7, 7)
    assert not att.requires_grad
    assert torch.allclose(att.sum(-1), torch.ones(3, 4, 7), atol=ATOL)
    future = torch.ones(7, 7, dtype=torch.bool).triu(1)
    assert torch.equal(att[..., future], torch.zeros_like(att[..., future]))
    assert (att[..., ~future] > 0).all()  # every position <= t gets some weight
    assert torch.equal(att[..., 0, 0], torch.ones(3, 4))  # the first sees only itself


def _model(seed: int = 0) -> Transformer:
    return TransformerConfig(**SMALL).build(torch.Generator().manual_seed(seed))


def test_all_logits_are_causal():
    """Changing the character at position t leaves positions < t exactly equal, changes t."""
    model = _model()
    idx = torch.randint(0, 27, (4, 8), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        base = model.all_logits(idx)
        assert base.shape == (4, 8, 27)
        for t in range(8):
            changed = idx.clone()
            changed[:, t] = (changed[:, t] + 1) % 27
            logits = model.all_logits(changed)
            assert torch.equal(logits[:, :t], base[:, :t]), t
            assert not torch.equal(logits[:, t], base[:, t]), t


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"n_embd": 30, "n_head": 4}, "n_embd"),  # not divisible
        ({"n_head": 0}, "n_head"),
        ({"n_layer": -1}, "n_layer"),
        ({"block_size": 2.5}, "block_size"),
        ({"vocab_size": 0}, "vocab_size"),
    ],
)
def test_bad_config_values_are_rejected(kwargs, field):
    with pytest.raises(ValueError, match=f"TransformerConfig\\.{field}"):
        TransformerConfig(**kwargs)


def test_attention_rejects_indivisible_heads():
    with pytest.raises(ValueError, match="divisible"):
        CausalSelfAttention(30, 4, generator=torch.Generator())


def test_same_seed_same_parameters():
    """build() draws every weight from the generator it is given, so a seed fixes the model."""
    sa, sb, sc = (_model(seed).state_dict() for seed in (3, 3, 4))
    assert sa.keys() == sb.keys()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not torch.equal(sa["wte"], sc["wte"])


def test_global_rng_untouched():
    """Building the model and running it in eval mode draw nothing from torch's global RNG."""
    before = torch.random.get_rng_state()
    model = _model()
    model.eval()
    idx = torch.randint(0, 27, (3, 8), generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        model(idx)
    assert torch.equal(torch.random.get_rng_state(), before)


def test_short_training_lowers_the_loss(tiny_words, tiny_vocab):
    """30 AdamW steps of train() on a handful of names: the Transformer's loss goes down."""
    X, Y = build_dataset(tiny_words, tiny_vocab, block_size=8)
    config = TransformerConfig(**{**SMALL, "vocab_size": len(tiny_vocab)})
    model = config.build(torch.Generator().manual_seed(0))
    cfg = AdamWConfig(steps=30, batch_size=16, lr=1e-2)
    losses = train(model, X, Y, cfg, generator=torch.Generator().manual_seed(1)).losses
    assert len(losses) == 30
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5


def test_dropout_draws_from_the_models_generator_and_is_off_in_eval():
    """Dropout zeroes values in training only, from the build generator: two models built
    from equal generators drop the same values; in eval mode it is the identity."""
    config = TransformerConfig(**SMALL, dropout=0.5)
    idx = torch.randint(0, 27, (4, 8), generator=torch.Generator().manual_seed(3))
    a, b = (
        config.build(torch.Generator().manual_seed(0)),
        config.build(torch.Generator().manual_seed(0)),
    )
    state = torch.random.get_rng_state()
    assert torch.equal(a.all_logits(idx), b.all_logits(idx))  # the same masks
    assert not torch.equal(a.all_logits(idx), a.all_logits(idx))  # fresh masks each pass
    assert torch.equal(torch.random.get_rng_state(), state)  # the global generator untouched
    plain = TransformerConfig(**SMALL).build(torch.Generator().manual_seed(0))
    plain.load_state_dict(a.state_dict())
    assert torch.equal(a.eval().all_logits(idx), plain.eval().all_logits(idx))


def test_dropout_must_be_a_probability_below_one():
    with pytest.raises(ValueError, match="dropout"):
        TransformerConfig(dropout=1.0)
