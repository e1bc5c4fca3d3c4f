"""Chapter 6's AdamW recipe: its config, its schedule, and a step the lectures' loop runs."""

from __future__ import annotations

import pytest
import torch

from charlm.bigram import NeuralBigram
from charlm.data import build_dataset
from charlm.optim import AdamWConfig
from charlm.train import evaluate, train


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"steps": 0}, "steps"),
        ({"batch_size": 0}, "batch_size"),
        ({"batch_size": None}, "batch_size"),
        ({"lr": 0.0}, "lr"),
        ({"lr": float("nan")}, "lr"),
        ({"lr_final": -0.1}, "lr_final"),
        ({"lr": 0.1, "lr_final": 0.2}, "lr_final"),
        ({"weight_decay": -1.0}, "weight_decay"),
    ],
)
def test_bad_values_are_rejected(kwargs, field):
    with pytest.raises(ValueError, match=f"AdamWConfig.{field}"):
        AdamWConfig(**kwargs)


def test_the_rate_follows_a_cosine_to_lr_final():
    c = AdamWConfig(steps=100, lr=1.0, lr_final=0.1)
    assert c.lr_at(0) == pytest.approx(1.0) and c.lr_at(50) == pytest.approx(0.55)
    assert c.lr_at(100) == pytest.approx(0.1)
    assert [c.lr_at(i) for i in range(100)] == sorted(
        (c.lr_at(i) for i in range(100)), reverse=True
    )


def test_adamw_trains_with_the_same_loop(tiny_words, tiny_vocab):
    X, Y = build_dataset(tiny_words, tiny_vocab, block_size=1)
    model = NeuralBigram(len(tiny_vocab), generator=torch.Generator().manual_seed(0))
    start = evaluate(model, X, Y)
    cfg = AdamWConfig(steps=100, batch_size=8, lr=0.05)
    result = train(model, X, Y, cfg, torch.Generator().manual_seed(0))
    assert evaluate(model, X, Y) < start - 0.5
    assert len(result.times) == 100 and result.times == sorted(result.times)


def test_the_step_is_torchs_adamw_at_the_scheduled_rate(tiny_words, tiny_vocab):
    """The same updates as torch.optim.AdamW driven by hand at the cosine's rates."""
    import torch.nn.functional as F

    X, Y = build_dataset(tiny_words, tiny_vocab, block_size=1)
    cfg = AdamWConfig(steps=20, batch_size=8, lr=0.05, weight_decay=0.1)
    ours = NeuralBigram(len(tiny_vocab), generator=torch.Generator().manual_seed(0))
    train(ours, X, Y, cfg, torch.Generator().manual_seed(3))
    ref = NeuralBigram(len(tiny_vocab), generator=torch.Generator().manual_seed(0))
    opt = torch.optim.AdamW(ref.parameters(), weight_decay=0.1, fused=True)
    g = torch.Generator().manual_seed(3)
    for i in range(cfg.steps):
        ix = torch.randint(0, X.shape[0], (cfg.batch_size,), generator=g)
        loss = F.cross_entropy(ref(X[ix]), Y[ix])
        opt.zero_grad()
        loss.backward()
        opt.param_groups[0]["lr"] = cfg.lr_at(i)
        opt.step()
    assert torch.equal(ours.weight, ref.weight)
