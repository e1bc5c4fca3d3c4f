"""Timings with the machine to themselves, while the book builds.

The chapters execute side by side, so a timing taken in one of them would otherwise share
the two cores with other chapters' training and move from build to build. ``seam`` sets
``charlm.timing.quiet`` to ``machine_to_itself``: holding a lock (one timing at a time), it
pauses every other process of the build (SIGSTOP) -- the other pages' kernels and the
workers they started -- and lets them go on (SIGCONT) when the timing ends. A paused
training loop resumes where it stopped, with the same numbers; only its wall time grows by
the pause, which is why the book prints training times measured this way and not the wall
time of a run that shared the machine.

The build's processes are the descendants of the process named by ``$CHARLM_BUILD_PID``
(the build sets it); the timing process, its ancestors (its kernel, the page's worker, the
build) and its own children go on. The build's own process is one of those ancestors, and
it goes on starting pages; so while the timing runs, a watch looks again every
``LOOK_EVERY`` seconds and pauses whatever process has appeared below the build since. The
watch is a process of its own (``watch``), on the core the timing leaves idle, so its looks
take nothing from the timed code.

Each timing leaves one line in ``quiet.jsonl`` beside the budget's lock files: how long it
held the machine, how many processes it paused, and how many CPU-seconds the rest of the
machine used meanwhile (every CPU's busy time, less this process's and its children's):
near zero when the timing had the machine to itself. ``make bench`` prints the largest.
Without the variable, as everywhere outside the build, ``machine_to_itself`` does nothing.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil

from charlm.bookbuild import BUILD_PID_ENV, CORES_ENV
from charlm.bookbuild.cores import whole_machine

_inside = False  # a timing within a timing runs in the quiet already made
LOOK_EVERY = 0.1  # seconds between the watch's looks for processes started meanwhile
WALK_EVERY = 10  # of those looks, one walks the build's whole tree (the others list /proc)
RECORD = "quiet.jsonl"  # one line per timing, in the budget's folder
# the watch's process: isolated (-I) from the build's startup hooks, which would import torch
# into it and delay its first look by seconds; and not ``python -m``, whose runpy warns on
# stderr, which would fail the page
WATCH = "import sys; from charlm.bookbuild.quiet import watch; watch(int(sys.argv[1]))"


@contextmanager
def machine_to_itself() -> Iterator[None]:
    """Pause every other process of the build for the body (a no-op outside the build)."""
    global _inside
    root, folder = os.environ.get(BUILD_PID_ENV), os.environ.get(CORES_ENV)
    if not root or not folder or _inside:
        yield
        return
    Path(folder).mkdir(parents=True, exist_ok=True)
    with open(Path(folder) / "quiet.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another page's timing ends first
        paused: list[psutil.Process] = []
        watcher = None
        try:
            for _ in range(2):  # a process started while the first were paused: the second look
                _pause_new(int(root), paused)
            watcher = subprocess.Popen(
                [sys.executable, "-I", "-c", WATCH, root],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            _inside = True
            start, busy = time.perf_counter(), _others_cpu()
            with whole_machine():
                yield
            seconds, busy = time.perf_counter() - start, _others_cpu() - busy
            _record(folder, seconds, busy, len(paused) + _end(watcher))
            watcher = None
        finally:
            _inside = False
            if watcher is not None:
                _end(watcher)
            for proc in paused:
                _go_on(proc)


def _end(watcher: subprocess.Popen) -> int:
    """End the watch: it lets go on what it paused; how many that was."""
    count, _ = watcher.communicate()  # closes its stdin, which it waits on
    return int(count or 0)


def watch(root: int) -> None:
    """Until stdin closes, pause every process that appears below ``root`` (the timing
    process, this one's parent, and its ancestors go on); then let them go on and print
    how many there were."""
    timing = psutil.Process().parent()
    paused: list[psutil.Process] = []
    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    try:
        seen = _pids()  # before the first look, so that nothing starts unseen between them
        _pause_new(root, paused, timing)  # what appeared since the timing's looks
        looks = 0
        while not stop.wait(LOOK_EVERY):
            # only processes started since the last look can be new to the build: listing
            # /proc costs a tenth of a millisecond, where walking the whole tree of processes
            # (as _pause_new does) costs several, on the core a two-thread timing needs; the
            # whole walk once every WALK_EVERY looks (a process id used again)
            looks += 1
            new = _pids() - seen
            seen |= new
            if looks % WALK_EVERY == 0 or any(_below(pid, root) for pid in new):
                _pause_new(root, paused, timing)
    finally:
        for proc in paused:
            _go_on(proc)
        print(len(paused), flush=True)


def _pids() -> set[int]:
    """Every process's id, as cheaply as Linux tells them (psutil's way elsewhere)."""
    try:
        return {int(name) for name in os.listdir("/proc") if name.isdigit()}
    except FileNotFoundError:  # no /proc: every pid, the slower way
        return set(psutil.pids())


def _below(pid: int, root: int) -> bool:
    """Whether process ``pid`` descends from ``root`` (False once it has ended)."""
    try:
        return any(parent.pid == root for parent in psutil.Process(pid).parents())
    except psutil.NoSuchProcess:
        return False


def _pause_new(root: int, paused: list[psutil.Process], me: psutil.Process | None = None) -> None:
    for proc in others(root, me):
        if proc not in paused and _pause(proc):
            paused.append(proc)


def _others_cpu() -> float:
    """CPU-seconds the machine has been busy, less this process's and its children's."""
    machine = psutil.cpu_times()
    # every field but idle and iowait is busy time; guest time is counted in user already
    idle = ("idle", "iowait", "guest", "guest_nice")
    busy = sum(v for name, v in machine._asdict().items() if name not in idle)
    own = psutil.Process().cpu_times()
    mine = own.user + own.system + own.children_user + own.children_system
    for child in psutil.Process().children(recursive=True):
        try:  # a running child's time is not in children_* until it ends
            mine += sum(child.cpu_times()[:2])
        except psutil.NoSuchProcess:
            pass
    return busy - mine


def _record(folder: str, seconds: float, others: float, paused: int) -> None:
    line = {"pid": os.getpid(), "seconds": round(seconds, 3), "others_cpu": round(others, 3),
            "paused": paused}  # fmt: skip
    with open(Path(folder) / RECORD, "a") as f:
        f.write(json.dumps(line) + "\n")


def others(root: int, me: psutil.Process | None = None) -> list[psutil.Process]:
    """The processes below ``root``, less ``me`` (this one), its ancestors and descendants."""
    me = me or psutil.Process()
    try:
        below = psutil.Process(root).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    keep = {me.pid, *(p.pid for p in me.parents()), *(p.pid for p in me.children(recursive=True))}
    return [p for p in below if p.pid not in keep]


def _pause(proc: psutil.Process) -> bool:
    try:
        proc.suspend()
        return True
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def _go_on(proc: psutil.Process) -> None:
    try:
        proc.resume()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        pass
