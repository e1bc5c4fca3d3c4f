"""charlm.bookbuild.progress: training loops report their steps while the book builds only."""

from __future__ import annotations

import time

import torch

from charlm.bookbuild import PAGE_ENV, PROGRESS_ENV, progress
from charlm.models import MLP, MLPConfig
from charlm.train import TrainConfig, train


def test_no_reporter_outside_the_build(monkeypatch):
    monkeypatch.delenv(PROGRESS_ENV, raising=False)
    assert progress.reporter("MLP", 100) is None


def test_a_reporter_writes_its_state_at_most_twice_a_second_and_removes_it(monkeypatch, tmp_path):
    clock = iter([0.0, 0.1, 0.2, 0.9, 1.5])  # start, three updates, the end
    monkeypatch.setattr(progress.time, "perf_counter", lambda: next(clock))
    monkeypatch.setenv(PROGRESS_ENV, str(tmp_path))
    monkeypatch.setenv(PAGE_ENV, "book/05_wavenet")
    bar = progress.reporter("WaveNet", 1000)
    bar.update()  # t = 0.1: the first update is written
    [loop] = progress.read_loops(tmp_path)
    assert (loop.page, loop.what, loop.done, loop.total) == ("book/05_wavenet", "WaveNet", 1, 1000)
    bar.update()  # t = 0.2: too soon after the last write
    assert progress.read_loops(tmp_path)[0].done == 1
    bar.update()  # t = 0.9: written
    [loop] = progress.read_loops(tmp_path)
    assert loop.done == 3 and loop.seconds == 0.9
    assert abs(loop.seconds_left - 0.3 * 997) < 1e-9  # 0.3 s per step so far
    bar.close()  # t = 1.5
    assert progress.read_loops(tmp_path) == []
    assert [p.name for p in tmp_path.iterdir()] == [progress.FINISHED]
    [done] = progress.read_finished(tmp_path)
    assert (done.what, done.done, done.seconds) == ("WaveNet", 3, 1.5)


def test_train_reports_while_the_book_builds(monkeypatch, tmp_path):
    import charlm.train
    from charlm.bookbuild import seam

    monkeypatch.setenv(PROGRESS_ENV, str(tmp_path))
    monkeypatch.setenv(PAGE_ENV, "chapter")
    monkeypatch.setattr(charlm.train, "watch", charlm.train.watch)  # the plain one, after
    seam.install()  # as in a chapter's kernel
    seen = []

    def look(step, model, loss, lr):
        if step == 4:
            seen.extend(progress.read_loops(tmp_path))

    g = torch.Generator().manual_seed(0)
    model = MLP(MLPConfig(vocab_size=5, block_size=2, n_embd=2, n_hidden=4), g)
    X, Y = torch.randint(0, 5, (50, 2), generator=g), torch.randint(0, 5, (50,), generator=g)
    train(model, X, Y, TrainConfig(steps=10, batch_size=8, lr=0.1), generator=g, hooks=[look])
    assert [(loop.page, loop.what, loop.total) for loop in seen] == [("chapter", "MLP", 10)]
    assert seen[0].done >= 1
    assert progress.read_loops(tmp_path) == []  # gone when the loop ended
    [finished] = progress.read_finished(tmp_path)  # and kept as finished, with its time
    assert (finished.page, finished.what, finished.done) == ("chapter", "MLP", 10)
    assert finished.seconds > 0
    assert seen[0].ended is None and 0 < time.time() - finished.ended < 60  # and when it ended


def test_unreadable_reports_are_skipped(tmp_path):
    (tmp_path / "half.json").write_text('{"page": "x", "done"')
    (tmp_path / "foreign.json").write_text('{"something": "else"}')
    assert progress.read_loops(tmp_path) == []
