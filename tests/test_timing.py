from __future__ import annotations

from contextlib import contextmanager

import pytest

import charlm.timing
from charlm.timing import Timing, ratio, time_in_turns, time_per_call, time_steps


def test_calls_the_function_number_times_repeat_plus_one_warm_up():
    calls = []
    timing = time_per_call(lambda: calls.append(1), number=7, repeat=3)
    assert len(calls) == 7 * 3 + 1
    assert len(timing.runs) == 3 and all(run >= 0 for run in timing.runs)


def test_compared_computations_are_timed_in_turns():
    order = []
    a, b = time_in_turns(lambda: order.append("a"), lambda: order.append("b"), number=2, repeat=3)
    assert "".join(order) == "ab" + "aabb" * 3  # warm-ups, then a round of each in turn
    assert len(a.runs) == len(b.runs) == 3


def test_median_range_scale_and_ratio():
    t = Timing((3.0, 1.0, 2.0, 10.0, 2.5))
    assert (t.median, t.low, t.high) == (2.5, 1.0, 10.0)
    assert t.scaled(1000).runs == (3000.0, 1000.0, 2000.0, 10000.0, 2500.0)
    assert t.spread(1) == "1.0–10.0 over 5 repeats"
    assert ratio(Timing((2.0, 6.0)), Timing((1.0, 2.0))).runs == (2.0, 3.0)
    with pytest.raises(ValueError, match="in turns"):
        ratio(Timing((1.0,)), Timing((1.0, 2.0)))


def test_the_repeats_run_inside_the_seam_once(monkeypatch):
    events = []

    @contextmanager
    def quiet():
        events.append("enter")
        yield
        events.append("exit")

    monkeypatch.setattr(charlm.timing, "quiet", quiet)
    time_in_turns(lambda: events.append("call"), number=1, repeat=2)
    assert events == ["enter", "call", "call", "call", "exit"]


@pytest.mark.parametrize("number, repeat", [(0, 5), (5, 0)])
def test_at_least_one_call(number, repeat):
    with pytest.raises(ValueError, match="number and repeat"):
        time_per_call(lambda: None, number=number, repeat=repeat)


def test_time_steps_trains_the_model_in_short_runs(monkeypatch):
    import torch

    from charlm.models import MLP, MLPConfig
    from charlm.train import TrainConfig

    g = torch.Generator().manual_seed(0)
    model = MLP(MLPConfig(vocab_size=5, block_size=2, n_embd=2, n_hidden=4), g)
    X, Y = torch.randint(0, 5, (50, 2), generator=g), torch.randint(0, 5, (50,), generator=g)
    before = [p.detach().clone() for p in model.parameters()]
    seen = []
    real_train = charlm.timing.train
    monkeypatch.setattr(charlm.timing, "train", lambda *a: seen.append(a[3]) or real_train(*a))
    timing = time_steps(model, X, Y, TrainConfig(steps=10**6, batch_size=8, lr=0.1), g,
                        steps=3, repeat=4)  # fmt: skip
    assert [config.steps for config in seen] == [3] * 5  # a warm-up, then four timed runs
    assert len(timing.runs) == 4
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_compare_threads_times_each_thread_count_in_turns_and_restores_torchs(monkeypatch):
    import torch

    from charlm.timing import compare_threads
    from charlm.train import TrainConfig

    seen = []
    monkeypatch.setattr(charlm.timing, "train",
                        lambda *a: seen.append((torch.get_num_threads(), a[3].steps)))  # fmt: skip
    before = torch.get_num_threads()
    one, two = compare_threads(torch.nn.Linear(1, 1), None, None, TrainConfig(steps=100),
                               None, threads=[1, 2], steps=4, repeat=3)  # fmt: skip
    assert seen == [(1, 4), (2, 4)] * 4  # the warm-ups, then three rounds in turns
    assert len(one.runs) == len(two.runs) == 3
    assert torch.get_num_threads() == before


def test_compare_steps_times_each_job_in_turns_on_its_own_model_and_recipe(monkeypatch):
    import torch

    from charlm.timing import Steps, compare_steps
    from charlm.train import TrainConfig

    seen = []

    def train(model, X, Y, config, generator):
        seen.append((model, config.batch_size))

    monkeypatch.setattr(charlm.timing, "train", train)
    a, b = torch.nn.Linear(1, 1), torch.nn.Linear(2, 2)
    jobs = [Steps(a, None, None, TrainConfig(batch_size=32)),
            Steps(b, None, None, TrainConfig(batch_size=128))]  # fmt: skip
    small, large = compare_steps(jobs, None, steps=4, repeat=3)
    assert seen == [(a, 32), (b, 128)] * 4  # the warm-ups, then three rounds in turns
    assert len(small.runs) == len(large.runs) == 3
    assert len(ratio(large, small).runs) == 3  # a ratio per round


def test_each_round_starts_from_a_collected_heap(monkeypatch):
    collected = []
    monkeypatch.setattr(charlm.timing.gc, "collect", lambda: collected.append(1))
    time_in_turns(lambda: None, lambda: None, number=2, repeat=3)
    assert len(collected) == 2 * 3  # before each timed round, none inside one
