from __future__ import annotations

import pytest
import torch

from charlm.data import build_dataset
from charlm.models import MLPConfig
from charlm.runs import Run, fit, fit_all
from charlm.train import TrainConfig, evaluate, train


def _splits(tiny_words, tiny_vocab):
    return {
        "train": build_dataset(tiny_words[:6], tiny_vocab, 3),
        "dev": build_dataset(tiny_words[6:], tiny_vocab, 3),
    }


def _runs(V):
    cfg = TrainConfig(steps=200, batch_size=8, lr=0.1, decay_step=150, lr_final=0.01)
    return [
        Run(MLPConfig(vocab_size=V, n_embd=4, n_hidden=16), cfg, seed=1),
        Run(MLPConfig(vocab_size=V, n_embd=2, n_hidden=8), cfg, seed=2),
        Run(MLPConfig(vocab_size=V, n_embd=3, n_hidden=12), cfg, seed=3, data="dev"),
    ]


def test_fit_is_build_then_train_from_one_generator(tiny_words, tiny_vocab):
    splits = _splits(tiny_words, tiny_vocab)
    run = _runs(len(tiny_vocab))[0]
    result = fit(run, splits)
    g = torch.Generator().manual_seed(run.seed)
    model = run.model.build(g)
    history = train(model, *splits["train"], run.train, generator=g)
    assert result.history.losses == history.losses
    assert result.losses["dev"] == evaluate(model, *splits["dev"])
    rebuilt = result.model()
    assert not rebuilt.training
    assert evaluate(rebuilt, *splits["dev"]) == result.losses["dev"]


def test_parallel_results_equal_serial_ones(tiny_words, tiny_vocab, one_thread):
    splits = _splits(tiny_words, tiny_vocab)
    runs = _runs(len(tiny_vocab))
    serial = fit_all(runs, splits, workers=1)
    parallel = fit_all(runs, splits, workers=2)
    assert [r.run for r in parallel] == runs  # results come back in order
    for a, b in zip(serial, parallel):
        assert a.history.losses == b.history.losses and a.losses == b.losses
        assert all(torch.equal(a.state[k], b.state[k]) for k in a.state)


def test_result_model_adopts_buffers_whose_shape_training_changed(tiny_words, tiny_vocab):
    from charlm.models import WaveNetConfig

    splits = {"train": build_dataset(tiny_words, tiny_vocab, 8)}
    cfg = WaveNetConfig(vocab_size=len(tiny_vocab), n_embd=4, n_hidden=8, bn_reduce_time=False)
    result = fit(Run(cfg, TrainConfig(steps=5, batch_size=8)), splits)
    model = result.model()  # the buggy BatchNorm's running mean is now (T, C), not (C,)
    assert model.layers[3].running_mean.shape == (4, 8)
    assert evaluate(model, *splits["train"]) == result.losses["train"]


@pytest.fixture
def plugged(monkeypatch, tmp_path):
    """charlm.runs with the build's run cache plugged in, as in a chapter's kernel; the
    plain functions come back after the test."""
    import charlm.runs
    import charlm.train
    from charlm.bookbuild import seam

    monkeypatch.setenv("CHARLM_RUN_CACHE", str(tmp_path))
    for module, name in ((charlm.runs, "fit"), (charlm.runs, "fit_all"), (charlm.train, "watch")):
        monkeypatch.setattr(module, name, getattr(module, name))
    seam.install()
    return charlm.runs


def test_without_the_build_fit_is_plain_and_stores_nothing(
    tiny_words, tiny_vocab, tmp_path, monkeypatch
):
    """The variable alone plugs nothing in: only the build's seam, in its kernels, does."""
    monkeypatch.setenv("CHARLM_RUN_CACHE", str(tmp_path))
    fit(_runs(len(tiny_vocab))[0], _splits(tiny_words, tiny_vocab))
    assert not hasattr(fit, "cached") and list(tmp_path.iterdir()) == []


def test_the_run_cache_trains_once_then_loads(
    tiny_words, tiny_vocab, tmp_path, monkeypatch, plugged
):
    runs_module = plugged
    fit, fit_all = runs_module.fit, runs_module.fit_all
    splits = _splits(tiny_words, tiny_vocab)
    run = _runs(len(tiny_vocab))[0]
    first = fit(run, splits)
    assert len(list(tmp_path.glob("*.pt"))) == 1

    def no_training(*args, **kwargs):
        raise AssertionError("a cached run was trained again")

    monkeypatch.setattr(runs_module, "train", no_training)
    again = fit(run, splits)
    assert again.history.losses == first.history.losses
    assert again.history.seconds == first.history.seconds and again.losses == first.losses
    assert all(torch.equal(again.state[k], first.state[k]) for k in first.state)
    assert again.run is run and isinstance(again.history, type(first.history))
    (loaded,) = fit_all([run], splits)
    assert loaded.losses == first.losses


def test_the_run_cache_key_covers_settings_data_and_threads(tiny_words, tiny_vocab):
    from dataclasses import replace

    from charlm.bookbuild.runcache import run_key

    splits = _splits(tiny_words, tiny_vocab)
    run = _runs(len(tiny_vocab))[0]
    key = run_key(run, splits, fit, threads=1)
    assert run_key(run, splits, fit, threads=1) == key
    changed = [
        run_key(replace(run, seed=run.seed + 1), splits, fit, threads=1),
        run_key(replace(run, train=replace(run.train, lr=0.2)), splits, fit, threads=1),
        run_key(replace(run, model=replace(run.model, n_hidden=17)), splits, fit, threads=1),
        run_key(run, {**splits, "train": (splits["train"][0], splits["train"][1].flip(0))}, fit, 1),
        run_key(run, splits, fit, threads=2),
    ]
    assert len({key, *changed}) == 1 + len(changed)


def test_an_unreadable_cache_entry_is_trained_again(
    tiny_words, tiny_vocab, tmp_path, monkeypatch, plugged
):
    fit = plugged.fit
    splits = _splits(tiny_words, tiny_vocab)
    run = _runs(len(tiny_vocab))[0]
    first = fit(run, splits)
    (entry,) = tmp_path.glob("*.pt")
    entry.write_bytes(b"not a checkpoint")
    again = fit(run, splits)
    assert again.history.losses == first.history.losses
    # the entry was replaced by a checkpoint of the run, which the next fit loads
    assert entry.read_bytes() != b"not a checkpoint"
    assert torch.load(entry, weights_only=True)  # a record, not an error
    runs_module = plugged

    def no_training(*args, **kwargs):
        raise AssertionError("the replaced entry was not loaded: the run trained again")

    monkeypatch.setattr(runs_module, "train", no_training)
    assert fit(run, splits).history.losses == first.history.losses


def test_fit_all_loads_cached_runs_without_workers(
    tiny_words, tiny_vocab, tmp_path, monkeypatch, one_thread, plugged
):
    """Runs trained before (here in workers) come back bit for bit, and no worker starts."""
    runs_module = plugged
    fit_all = runs_module.fit_all
    splits = _splits(tiny_words, tiny_vocab)
    runs = _runs(len(tiny_vocab))
    first = fit_all(runs, splits, workers=2)
    assert len(list(tmp_path.glob("*.pt"))) == len(runs)

    def no_workers(*args, **kwargs):
        raise AssertionError("a worker process was started for runs already trained")

    monkeypatch.setattr(runs_module, "ProcessPoolExecutor", no_workers)
    again = fit_all(runs, splits, workers=2)
    for a, b in zip(first, again):
        assert a.history.losses == b.history.losses and a.history.seconds == b.history.seconds
        assert all(torch.equal(a.state[k], b.state[k]) for k in a.state)


def test_dev_checks_give_a_curve_without_their_own_time(tiny_words, tiny_vocab):
    splits = _splits(tiny_words, tiny_vocab)
    cfg = TrainConfig(steps=40, batch_size=8, lr=0.1)
    run = Run(MLPConfig(vocab_size=len(tiny_vocab), n_embd=4, n_hidden=16), cfg, seed=1,
              dev_every=10)  # fmt: skip
    result = fit(run, splits)
    assert [step for step, _, _ in result.dev_curve] == [10, 20, 30, 40]
    seconds = [s for _, s, _ in result.dev_curve]
    assert seconds == sorted(seconds) and seconds[-1] <= result.history.seconds
    # the last check is the model as trained: the same dev loss as evaluated after
    assert result.dev_curve[-1][2] == result.losses["dev"]
    # and the checks change nothing about training itself
    plain = fit(Run(run.model, cfg, seed=1), splits)
    assert plain.history.losses == result.history.losses and plain.dev_curve == []
