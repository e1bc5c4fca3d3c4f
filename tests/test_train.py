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
        ({"l2": -1.0}, "l2"),
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


def test_schedule_overrides_the_config(tiny_words, tiny_vocab):
    rates = []
    model, X, Y = _setup(tiny_words, tiny_vocab)
    train(
        model,
        X,
        Y,
        TrainConfig(steps=4, batch_size=None, lr=1.0),
        schedule=lambda step: 0.1 * (step + 1),
        hooks=[lambda step, model, loss, lr: rates.append(lr)],
    )
    assert rates == pytest.approx([0.1, 0.2, 0.3, 0.4])


def test_progress_bar_does_not_change_results(tiny_words, tiny_vocab, capsys):
    cfg = TrainConfig(steps=30, batch_size=4, lr=0.5)
    out = []
    for progress in (False, True):
        model, X, Y = _setup(tiny_words, tiny_vocab)
        out.append(train(model, X, Y, cfg, torch.Generator().manual_seed(1), progress=progress))
    assert out[0].losses == out[1].losses
    assert "30/30" in capsys.readouterr().err


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


def test_optimizer_and_schedule_options():
    with pytest.raises(ValueError, match="TrainConfig.optimizer"):
        TrainConfig(optimizer="adam")
    with pytest.raises(ValueError, match="TrainConfig.schedule"):
        TrainConfig(schedule="linear")
    with pytest.raises(ValueError, match="TrainConfig.weight_decay"):
        TrainConfig(weight_decay=-1.0)
    with pytest.raises(ValueError, match="TrainConfig.decay_step"):
        TrainConfig(schedule="cosine", decay_step=5, lr_final=0.01)
    c = TrainConfig(steps=100, lr=1.0, schedule="cosine", lr_final=0.1)
    assert c.lr_at(0) == pytest.approx(1.0) and c.lr_at(50) == pytest.approx(0.55)
    assert c.lr_at(100) == pytest.approx(0.1)


def test_adamw_trains_and_records_times(tiny_words, tiny_vocab):
    model, X, Y = _setup(tiny_words, tiny_vocab)
    start = evaluate(model, X, Y)
    cfg = TrainConfig(steps=100, batch_size=8, lr=0.05, optimizer="adamw", schedule="cosine")
    result = train(model, X, Y, cfg, torch.Generator().manual_seed(0))
    assert evaluate(model, X, Y) < start - 0.5
    assert len(result.times) == 100 and result.times == sorted(result.times)


def test_example_losses_average_to_evaluate(tiny_words, tiny_vocab):
    X, Y = build_dataset(tiny_words, tiny_vocab, block_size=1)
    model = NeuralBigram(len(tiny_vocab), torch.Generator().manual_seed(0))
    losses = example_losses(model, X, Y)
    assert losses.shape == (len(Y),) and not losses.requires_grad
    assert losses.mean().item() == pytest.approx(evaluate(model, X, Y))
    probs = torch.softmax(model.weight[X[:, 0]], dim=1)[torch.arange(len(Y)), Y]  # (N,)
    assert torch.allclose(losses, -probs.log(), atol=1e-6)
    assert model.training
