"""The machine-wide core budget: never more holders than cores, quick jobs first, then the
largest."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import pytest

from charlm.bookbuild import cores as cores_module
from charlm.bookbuild.cores import cores

HOLDER = textwrap.dedent("""
    import os, sys, time
    from charlm.bookbuild.cores import cores
    n, work, hold = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
    with cores(n, work=work):
        print("start", time.time(), flush=True)
        if hold.replace(".", "").isdigit():  # seconds
            time.sleep(float(hold))
        else:  # a file: held until it exists
            while not os.path.exists(hold):
                time.sleep(0.01)
        print("end", time.time(), flush=True)
""")


def _start(folder, n=1, work=0.0, hold="0.5"):
    env = {**os.environ, "CHARLM_CORES": str(folder)}
    args = [sys.executable, "-c", HOLDER, str(n), str(work), str(hold)]
    return subprocess.Popen(args, env=env, stdout=subprocess.PIPE, text=True)


def _wait_for(condition, seconds=60.0):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def _interval(proc):
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0
    times = dict(line.split() for line in out.splitlines())
    return float(times["start"]), float(times["end"])


def test_without_a_budget_it_does_nothing(monkeypatch, tmp_path):
    monkeypatch.delenv("CHARLM_CORES", raising=False)
    monkeypatch.chdir(tmp_path)
    with cores(64, work=1.0):  # more cores than any machine has: it would wait for ever
        assert cores_module._held == 0  # nothing taken
    assert list(tmp_path.iterdir()) == []  # no lock file, no ticket, anywhere relative


def test_never_more_holders_than_cores(tmp_path):
    total = os.cpu_count() or 1
    procs = [_start(tmp_path) for _ in range(total + 2)]
    intervals = [_interval(p) for p in procs]
    for t, _ in intervals:  # at each start, count who holds a core
        holding = sum(1 for s, e in intervals if s <= t < e)
        assert holding <= total
    assert not list(tmp_path.glob("wait-*"))  # every ticket is gone


def test_the_largest_waiting_job_goes_first(tmp_path):
    total = os.cpu_count() or 1
    budget, release = tmp_path / "budget", tmp_path / "release"
    blocker = _start(budget, n=total, work=0.0, hold=release)  # holds the whole machine
    _wait_for(lambda: len(list(budget.glob("core-*"))) == total)  # all locked by the blocker
    small = _start(budget, n=1, work=1.0, hold="0.1")
    _wait_for(lambda: len(list(budget.glob("wait-*"))) == 1)  # the small job waits first
    large = _start(budget, n=total, work=100.0, hold="0.3")  # asks later, needs every core
    _wait_for(lambda: len(list(budget.glob("wait-*"))) == 2)  # both wait
    release.touch()
    _, blocked_until = _interval(blocker)
    small_start, _ = _interval(small)
    large_start, large_end = _interval(large)
    assert blocked_until <= large_start < small_start  # served first, despite asking later
    assert small_start >= large_end  # and it had the machine to itself


def test_a_quick_job_goes_before_larger_ones_that_asked_first(tmp_path):
    total = os.cpu_count() or 1
    budget, release = tmp_path / "budget", tmp_path / "release"
    blocker = _start(budget, n=total, work=0.0, hold=release)  # holds the whole machine
    _wait_for(lambda: len(list(budget.glob("core-*"))) == total)
    large = _start(budget, n=1, work=100 * cores_module.QUICK, hold="0.3")
    _wait_for(lambda: len(list(budget.glob("wait-*"))) == 1)  # the large job waits first
    quick = _start(budget, n=total, work=cores_module.QUICK / 2, hold="0.1")  # asks later
    _wait_for(lambda: len(list(budget.glob("wait-*"))) == 2)
    release.touch()
    _, blocked_until = _interval(blocker)
    quick_start, quick_end = _interval(quick)
    large_start, _ = _interval(large)
    assert blocked_until <= quick_start < large_start  # the quick one first
    assert large_start >= quick_end  # it held every core, so the large one waited for it


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs two cores")
def test_a_small_job_takes_a_free_core_while_a_larger_one_waits_for_all(tmp_path):
    total = os.cpu_count() or 1
    budget, release = tmp_path / "budget", tmp_path / "release"
    blocker = _start(budget, n=total - 1, work=0.0, hold=release)  # all cores but one
    _wait_for(lambda: len(list(budget.glob("core-*"))) >= total - 1)
    time.sleep(0.5)
    large = _start(budget, n=total, work=100.0, hold="0.2")  # needs all: cannot start yet
    _wait_for(lambda: len(list(budget.glob("wait-*"))) == 1)
    small = _start(budget, n=1, work=1.0, hold="0.2")
    small_start, small_end = _interval(small)  # it ran on the free core meanwhile
    release.touch()
    _, blocked_until = _interval(blocker)
    large_start, _ = _interval(large)
    assert small_end < blocked_until <= large_start


def test_a_dead_processs_ticket_does_not_block(tmp_path, monkeypatch):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()  # fmt: skip
    (tmp_path / f"wait-{1e9:024.3f}-1-{dead}-deadbeef").touch()
    monkeypatch.setenv("CHARLM_CORES", str(tmp_path))
    monkeypatch.setattr(cores_module, "POLL", 0.01)
    with cores(1, work=1.0):
        pass
    assert not list(tmp_path.glob("wait-*"))


def test_a_nested_request_runs_on_the_cores_already_held(tmp_path, monkeypatch):
    monkeypatch.setenv("CHARLM_CORES", str(tmp_path))
    total = os.cpu_count() or 1
    with cores(total, work=1.0):  # the whole machine: a nested request must not wait for it
        with cores(1, work=0.0):
            assert cores_module._held == total
    assert cores_module._held == 0
