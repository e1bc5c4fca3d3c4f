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
build) and its own children go on. Without the variable, as everywhere outside the build,
``machine_to_itself`` does nothing.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil

from charlm.bookbuild import BUILD_PID_ENV, CORES_ENV
from charlm.bookbuild.cores import whole_machine

_inside = False  # a timing within a timing runs in the quiet already made


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
        try:
            for _ in range(2):  # a process started while the first were paused: the second look
                for proc in others(int(root)):
                    if proc not in paused and _pause(proc):
                        paused.append(proc)
            _inside = True
            with whole_machine():
                yield
        finally:
            _inside = False
            for proc in paused:
                _go_on(proc)


def others(root: int) -> list[psutil.Process]:
    """The processes below ``root``, less this one, its ancestors and its descendants."""
    me = psutil.Process()
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
