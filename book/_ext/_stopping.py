"""A build stopped from outside ends every process it started (``execution``, part 5).

While the pages execute, SIGTERM or SIGHUP, or the build's parent process ending (as when
``make`` is terminated: make passes SIGTERM to the recipe's shell, which does not pass it
on), ends every process below the build's — the page workers, their kernels, the kernels'
own training workers — then the build, with an error. Each worker watches its own parent
the same way, so a build process killed outright (SIGKILL) still takes its kernels along.
The process tree is read with psutil (installed with ipykernel).
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

import psutil

GRACE = 2.0  # seconds a stopped build's processes get to end before they are killed
POLL = 0.2  # seconds between two looks at the parent process
STOP = signal.SIGUSR1  # the parent watcher's request to the main thread (see watch_parent)
SIGNALS = (signal.SIGTERM, signal.SIGHUP, STOP)

_stop_lock = threading.Lock()  # held by the one stop under way


def end_tree(root: psutil.Process, grace: float = GRACE, include_root: bool = True) -> None:
    """SIGTERM ``root``'s descendants (and ``root`` itself, unless told not to) at once;
    SIGKILL those still running after ``grace`` seconds (the multiprocessing resource
    tracker ignores SIGTERM).

    The whole tree is collected before any is signalled: a process whose parent ends is
    adopted elsewhere and could no longer be found from ``root``. A process started
    meanwhile is found by the next round.
    """
    for _ in range(3):
        try:
            procs = root.children(recursive=True) + ([root] if include_root else [])
        except psutil.NoSuchProcess:  # the root ended, and its children were adopted
            return
        procs = [p for p in procs if _running(p)]
        if not procs:
            return
        for proc in procs:
            _signal(proc, signal.SIGTERM)
            _signal(proc, signal.SIGCONT)  # one paused for a timing acts on the SIGTERM now
        _, alive = psutil.wait_procs(procs, timeout=grace)
        for proc in alive:
            _signal(proc, signal.SIGKILL)
        psutil.wait_procs(alive, timeout=grace)


def end_pid_tree(pid: int, grace: float = GRACE) -> None:
    """``end_tree`` for the process ``pid``, if it is still there."""
    try:
        end_tree(psutil.Process(pid), grace)
    except psutil.NoSuchProcess:
        pass


def end_descendants(grace: float = GRACE) -> None:
    """End every process below this one (``end_tree`` without this process)."""
    end_tree(psutil.Process(), grace, include_root=False)


def _running(proc: psutil.Process) -> bool:
    """Whether ``proc`` still runs (a zombie has ended and only waits to be reaped)."""
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _signal(proc: psutil.Process, signum: int) -> None:
    try:
        proc.send_signal(signum)
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        pass


def stop(code: int, why: str) -> None:
    """End every process below this one, then this one, with exit status ``code``."""
    if not _stop_lock.acquire(blocking=False):
        return  # the other trigger (signal or watcher) is already stopping it
    try:
        os.write(2, f"[execution] {why}: ending the processes this build started\n".encode())
        end_descendants()
    finally:
        os._exit(code)


def on_signal(signum: int, frame: FrameType | None) -> None:
    """Stop this process: asked from outside, or by the parent watcher (``STOP``)."""
    if signum == STOP:
        stop(1, "its parent process ended")
    else:
        stop(128 + signum, f"stopped by {signal.Signals(signum).name}")


def watch_parent(done: threading.Event, signals_caught: bool) -> threading.Thread:
    """A daemon thread that stops this process when its parent ends (the parent pid
    changes), until ``done`` is set.

    With the signal handlers in place, the stop runs in the main thread (the watcher sends
    it ``STOP``, a signal nbclient does not take over as it does SIGTERM): held in the
    handler, the main thread cannot react meanwhile to its workers' end, nor exit before
    the last process is killed. The watcher stops it itself if that has not happened a
    few seconds later.
    """
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            if done.wait(POLL):
                return
        if done.is_set():
            return  # the pages finished meanwhile: the handlers may be gone already
        if signals_caught:
            os.kill(os.getpid(), STOP)
            time.sleep(5 * GRACE)
        stop(1, "its parent process ended")

    thread = threading.Thread(target=watch, name="execution-watch-parent", daemon=True)
    thread.start()
    return thread


def catch_signals() -> dict[int, Any]:
    """Stop on SIGTERM, SIGHUP and ``STOP``; the handlers replaced (none off the main thread).

    In a worker, nbclient takes SIGTERM over while a notebook runs: it shuts the kernel down.
    """
    if threading.current_thread() is not threading.main_thread():
        return {}  # python sets handlers from the main thread only
    return {signum: signal.signal(signum, on_signal) for signum in SIGNALS}


def restore_signals(previous: dict[int, Any]) -> None:
    """Put back the handlers ``catch_signals`` replaced."""
    for signum, handler in previous.items():
        signal.signal(signum, signal.SIG_DFL if handler is None else handler)


@contextmanager
def stopped_with_build() -> Iterator[None]:
    """While the body runs, a stop from outside ends every process this one started."""
    done = threading.Event()
    previous = catch_signals()
    watcher = watch_parent(done, signals_caught=bool(previous))
    try:
        yield
    finally:
        done.set()
        watcher.join()  # gone before the handlers are: a build never waits on it later
        restore_signals(previous)


def guard_worker() -> None:
    """Each worker process: when the build process ends or stops it, end its kernel too."""
    watch_parent(threading.Event(), signals_caught=bool(catch_signals()))
