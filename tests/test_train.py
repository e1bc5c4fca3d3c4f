from __future__ import annotations

import math

import pytest
import torch

from charlm import lectures
from charlm.bigram import NeuralBigram
from charlm.data import build_dataset
from charlm.train import TrainConfig, evaluate, example_losses, train


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"steps": 0}, "steps"),
        ({"steps": -5}, "steps"),
        ({"steps": 1.5}, "steps"),
        ({"batch_size": 0}, "batch_size"),
        ({"batch_size": -1}, "batch_size"),
        ({"lr": 0.0}, "lr"),
        ({"lr": -0.1}, "lr"),
        ({"lr": float("nan")}, "lr"),
        ({"lr": float("inf")}, "lr"),
        ({"decay_step": 10}, "decay_step"),
        ({"lr_final": 0.01}, "decay_step"),
        ({"steps": 10, "decay_step": 11, "lr_final": 0.01}, "decay_step"),
        ({"decay_step": 5, "lr_final": 0.0}, "lr_final"),
    ],
)
def test_bad_config_values_are_rejected(kwargs, field):
    with pytest.raises(ValueError, match=f"TrainConfig.{field}"):
        TrainConfig(**kwargs)


def test_step_schedule():
    c = TrainConfig(steps=10, lr=0.1, decay_step=4, lr_final=0.01)
    assert [c.lr_at(i) for i in (0, 3, 4, 9)] == [0.1, 0.1, 0.01, 0.01]


def _setup(tiny_words, tiny_vocab, seed=0):
    X, Y = build_dataset(tiny_words, tiny_vocab, block_size=1)
    model = NeuralBigram(len(tiny_vocab), generator=torch.Generator().manual_seed(seed))
    return model, X, Y


def test_same_seed_same_losses(tiny_words, tiny_vocab):
    cfg = TrainConfig(steps=50, batch_size=4, lr=1.0)
    runs = []
    for _ in range(2):
        model, X, Y = _setup(tiny_words, tiny_vocab)
        runs.append(train(model, X, Y, cfg, generator=torch.Generator().manual_seed(3)).losses)
    assert runs[0] == runs[1]
    model, X, Y = _setup(tiny_words, tiny_vocab)
    other = train(model, X, Y, cfg, generator=torch.Generator().manual_seed(4)).losses
    assert other != runs[0]


def test_minibatches_need_a_generator(tiny_words, tiny_vocab):
    model, X, Y = _setup(tiny_words, tiny_vocab)
    with pytest.raises(ValueError, match="Generator"):
        train(model, X, Y, TrainConfig(steps=1, batch_size=4))


def test_update_is_plain_sgd(tiny_words, tiny_vocab):
    # one full-batch step equals w - lr * grad computed by autograd
    model, X, Y = _setup(tiny_words, tiny_vocab)
    w0 = model.weight.detach().clone().requires_grad_()
    loss = torch.nn.functional.cross_entropy(
        torch.nn.functional.one_hot(X[:, 0], len(tiny_vocab)).float() @ w0, Y
    )
    loss.backward()
    train(model, X, Y, TrainConfig(steps=1, batch_size=None, lr=0.5))
    assert torch.equal(model.weight.detach(), (w0 + -0.5 * w0.grad).detach())


def test_evaluate_restores_mode_and_builds_no_graph(tiny_words, tiny_vocab):
    model, X, Y = _setup(tiny_words, tiny_vocab)
    model.train()
    evaluate(model, X, Y)
    assert model.training and model.weight.grad is None
    model.eval()
    evaluate(model, X, Y)
    assert not model.training


# --- Chapter 2: the lectures' loop, hooks, schedules, the learning-rate finder ----------


def _lecture_loop(X, Y, steps, batch_size, decay_step):
    """The lecture's training loop written out by hand, on the same parameters."""
    g = torch.Generator().manual_seed(lectures.SEED)
    C = torch.randn((27, 10), generator=g)
    W1 = torch.randn((30, 200), generator=g)
    b1 = torch.randn(200, generator=g)
    W2 = torch.randn((200, 27), generator=g)
    b2 = torch.randn(27, generator=g)
    parameters = [C, W1, b1, W2, b2]
    for p in parameters:
        p.requires_grad = True
    lossi = []
    for i in range(steps):
        ix = torch.randint(0, X.shape[0], (batch_size,), generator=g)
        emb = C[X[ix]]
        h = torch.tanh(emb.view(-1, 30) @ W1 + b1)
        logits = h @ W2 + b2
        loss = torch.nn.functional.cross_entropy(logits, Y[ix])
        for p in parameters:
            p.grad = None
        loss.backward()
        lr = 0.1 if i < decay_step else 0.01
        for p in parameters:
            p.data += -lr * p.grad
        lossi.append(loss.item())
    return lossi, parameters


def test_train_reproduces_the_lectures_loop_bit_for_bit(tiny_words):
    from charlm.models import MLPConfig
    from charlm.vocab import Vocab

    vocab = Vocab("abcdefghijklmnopqrstuvwxyz")
    X, Y = build_dataset(tiny_words * 5, vocab, 3)
    want_losses, want_params = _lecture_loop(X, Y, steps=300, batch_size=32, decay_step=200)
    g = torch.Generator().manual_seed(lectures.SEED)
    model = MLPConfig().build(g)
    config = TrainConfig(steps=300, batch_size=32, lr=0.1, decay_step=200, lr_final=0.01)
    result = train(model, X, Y, config, generator=g)
    assert result.losses == want_losses
    for p, q in zip(model.parameters(), want_params):
        assert torch.equal(p.detach(), q.detach())


def test_hooks_see_every_step_and_can_stop(tiny_words, tiny_vocab):
    model, X, Y = _setup(tiny_words, tiny_vocab)
    seen = []

    def record(step, model, loss, lr):
        seen.append((step, lr))
        return step == 6  # stop after the 7th step

    config = TrainConfig(steps=20, batch_size=4, lr=0.5, decay_step=5, lr_final=0.05)
    result = train(model, X, Y, config, torch.Generator().manual_seed(0), hooks=[record])
    assert [s for s, _ in seen] == list(range(7)) and len(result.losses) == 7
    assert [lr for _, lr in seen] == [0.5] * 5 + [0.05] * 2


def test_a_config_of_ones_own_sets_the_rates(tiny_words, tiny_vocab):
    """The loop asks the config for each step's rate: the learning-rate finder's sweep."""
    from charlm.train import LRSweep

    rates = []
    model, X, Y = _setup(tiny_words, tiny_vocab)
    sweep = LRSweep(steps=4, batch_size=None, lrs=(0.1, 0.2, 0.3, 0.4))
    train(model, X, Y, sweep, hooks=[lambda step, model, loss, lr: rates.append(lr)])
    assert rates == [0.1, 0.2, 0.3, 0.4]
    with pytest.raises(ValueError, match="one rate per step"):
        LRSweep(steps=3, lrs=(0.1,))


def test_a_step_of_ones_own_replaces_sgd(tiny_words, tiny_vocab):
    """``step`` is how later chapters change the update (hand-written gradients, AdamW)."""
    from charlm.train import sgd_step

    seen = []

    def halving(model, Xb, Yb, lr):
        seen.append((len(Xb), lr))
        return sgd_step(model, Xb, Yb, lr / 2)

    config = TrainConfig(steps=6, batch_size=4, lr=0.4)
    a, X, Y = _setup(tiny_words, tiny_vocab)
    ours = train(a, X, Y, config, torch.Generator().manual_seed(2), step=halving)
    b, _, _ = _setup(tiny_words, tiny_vocab)
    plain = train(b, X, Y, TrainConfig(steps=6, batch_size=4, lr=0.2),
                  torch.Generator().manual_seed(2))  # fmt: skip
    assert seen == [(4, 0.4)] * 6 and ours.losses == plain.losses
    assert torch.equal(a.weight, b.weight)


def test_the_seam_does_nothing_by_default_and_wraps_every_loop(tiny_words, tiny_vocab, monkeypatch):
    """``watch`` is entered around the loop, and its hooks see every step."""
    import contextlib

    import charlm.train

    events = []

    @contextlib.contextmanager
    def watching(model, X, config):
        events.append("enter")
        yield [lambda step, model, loss, lr: events.append(step)]
        events.append("exit")

    model, X, Y = _setup(tiny_words, tiny_vocab)
    config = TrainConfig(steps=3, batch_size=4, lr=0.5)
    plain = train(model, X, Y, config, torch.Generator().manual_seed(1))
    monkeypatch.setattr(charlm.train, "watch", watching)
    model, X, Y = _setup(tiny_words, tiny_vocab)
    watched = train(model, X, Y, config, torch.Generator().manual_seed(1))
    assert events == ["enter", 0, 1, 2, "exit"] and watched.losses == plain.losses


def test_mean_every():
    from charlm.train import TrainResult

    assert TrainResult([1.0, 3.0, 5.0, 7.0, 9.0], 0.0).mean_every(2) == [2.0, 6.0]


def test_find_lr(tiny_words, tiny_vocab):
    from charlm.models import MLPConfig
    from charlm.train import find_lr

    X, Y = build_dataset(tiny_words, tiny_vocab, 3)
    g = torch.Generator().manual_seed(0)
    model = MLPConfig(vocab_size=len(tiny_vocab), n_hidden=20).build(g)
    result = find_lr(model, X, Y, g, steps=200, min_exponent=-3, max_exponent=0, batch_size=8)
    assert len(result.lrs) == len(result.losses) == 200
    assert all(b > a for a, b in zip(result.lrs, result.lrs[1:]))
    assert result.lrs[0] == pytest.approx(1e-3) and result.lrs[-1] == pytest.approx(1.0)
    assert all(math.isfinite(x) for x in result.losses)
    assert len(result.smoothed(20)) == 200
    assert -3 <= result.best_exponent(20) <= 0
    with pytest.raises(ValueError, match="max_exponent"):
        find_lr(model, X, Y, g, min_exponent=0, max_exponent=-1)


def test_evaluate_splits(tiny_words, tiny_vocab):
    from charlm.train import evaluate_splits

    model, X, Y = _setup(tiny_words, tiny_vocab)
    out = evaluate_splits(model, {"a": (X, Y), "b": (X[:5], Y[:5])})
    assert out == {"a": evaluate(model, X, Y), "b": evaluate(model, X[:5], Y[:5])}


def test_example_losses_average_to_evaluate(tiny_words, tiny_vocab):
    X, Y = build_dataset(tiny_words, tiny_vocab, block_size=1)
    model = NeuralBigram(len(tiny_vocab), torch.Generator().manual_seed(0))
    losses = example_losses(model, X, Y)
    assert losses.shape == (len(Y),) and not losses.requires_grad
    assert losses.mean().item() == pytest.approx(evaluate(model, X, Y))
    probs = torch.softmax(model.weight[X[:, 0]], dim=1)[torch.arange(len(Y)), Y]  # (N,)
    assert torch.allclose(losses, -probs.log(), atol=1e-6)
    assert model.training


def test_chapter_1_lists_the_lectures_loop_and_nothing_else():
    """What Chapter 1 shows is short, and is the lecture's four moves, written as they are."""
    import inspect

    from charlm import train as module

    loop, step = inspect.getsource(module.train), inspect.getsource(module.sgd_step)
    assert len(loop.splitlines()) <= 32 and len(step.splitlines()) <= 20
    for line in ("p.grad = None", ".backward()", "p.data += -lr * p.grad"):
        assert line in step
    for later in ("adamw", "AdamW", "_foreach", "cores", "tqdm", "bookbuild", "fcntl"):
        assert later not in loop + step
