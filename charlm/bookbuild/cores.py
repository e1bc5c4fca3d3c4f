"""A machine-wide budget of CPU cores for training loops, while the book builds.

When the book builds, its chapters execute side by side; left to the operating system,
five chapters' training runs would share two cores and the longest run (Chapter 5's, five
and a half minutes on one core) would finish last, slowed by all the others. So every
training loop first takes one core per thread it uses, and gives them back when it ends.
The largest waiting job is served first; a job needing two cores is served when both are
free. While it waits for the second, a smaller job that needs only the free one may take
it, so no core idles behind a job that cannot start yet. Quick jobs (under ``QUICK`` work, a
few seconds each) go before all the others: a chapter runs its cells in order, so a quick
run left waiting behind the long ones would hold back every run its chapter asks for after
it (Chapter 2's learning-rate probe once held its chapter's 200,000-step run until the
book's longest run had ended, and that run then trained on its own at the end).

The budget is a folder of lock files named by ``$CHARLM_CORES`` (set by the book build);
when it is not set, ``cores()`` does nothing and training runs as usual. Training loops
ask for their cores through ``charlm.train.watch``, which ``charlm.bookbuild.seam`` sets in
the build's kernels. Inside ``cores()``, a nested ``cores()`` (a training loop within a
timed block) runs on the cores already held.
"""

from __future__ import annotations

import fcntl
import os
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import IO

from charlm.bookbuild import CORES_ENV

POLL = 0.05  # seconds between attempts while waiting
QUICK = 2e9  # work below this is served first (steps x examples x parameters: a few seconds)
_held = 0  # cores this process holds now; nested requests run within them


@contextmanager
def cores(n: int = 1, work: float = 0.0) -> Iterator[None]:
    """Hold ``n`` of the machine's cores for the body; ``work`` orders the waiting jobs.

    Jobs with more ``work`` (e.g. examples x parameters) are served first, so the longest
    training run starts as soon as a core is free; quick ones (under ``QUICK``) before all
    of them. Without ``$CHARLM_CORES``: a no-op.
    """
    global _held
    folder = os.environ.get(CORES_ENV)
    if not folder or _held:
        yield
        return
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    total = os.cpu_count() or 1
    n = max(1, min(n, total))
    ticket = path / f"wait-{work:024.3f}-{n}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    ticket.touch()
    try:
        with ExitStack() as held:
            while True:
                if _my_turn(path, ticket) and _take(path, total, n, held):
                    break
                time.sleep(POLL)
            ticket.unlink(missing_ok=True)
            _held = n
            try:
                yield
            finally:
                _held = 0
    finally:
        ticket.unlink(missing_ok=True)


def _my_turn(path: Path, ticket: Path) -> bool:
    """True when no live waiting job ranked above ``ticket`` (``_rank``) could start
    instead: one needing no more cores than ``ticket``'s, or no more than are free now."""
    mine, free = _rank(ticket), None
    for other in path.glob("wait-*"):
        if other == ticket or _rank(other) <= mine or not _alive(other):
            continue
        if _cores(other) <= _cores(ticket):
            return False
        free = _free(path) if free is None else free
        if _cores(other) <= free:
            return False
    return True


def _free(path: Path) -> int:
    """How many of the machine's core files no one holds now."""
    free = 0
    for i in range(os.cpu_count() or 1):
        f = _lock(path, i)
        if f is not None:
            f.close()  # let it go again at once
            free += 1
    return free


def _lock(path: Path, i: int) -> IO | None:
    """Core file ``i``, open and locked by this process, or None when someone holds it."""
    f = open(path / f"core-{i}", "a")  # noqa: SIM115 - kept open while the lock is held
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.close()
        return None
    return f


def _take(path: Path, total: int, n: int, held: ExitStack) -> bool:
    """Lock ``n`` free core files at once, or none."""
    taken = []
    for i in range(total):
        f = _lock(path, i)
        if f is None:
            continue
        taken.append(f)
        if len(taken) == n:
            for g in taken:
                held.callback(g.close)  # closing the file releases its lock
            return True
    for f in taken:
        f.close()
    return False


def _work(ticket: Path) -> float:
    return float(ticket.name.split("-")[1])


def _rank(ticket: Path) -> tuple[bool, float]:
    """The order of service, highest first: quick jobs, then by work."""
    work = _work(ticket)
    return work < QUICK, work


def _cores(ticket: Path) -> int:
    return int(ticket.name.split("-")[2])


def _alive(ticket: Path) -> bool:
    """A ticket left by a process that died (killed mid-build) does not block anyone."""
    pid = int(ticket.name.split("-")[3])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        ticket.unlink(missing_ok=True)
        return False
    except PermissionError:
        pass
    return True


@contextmanager
def whole_machine() -> Iterator[None]:
    """Hold every core for the body without taking the budget's locks: for a body that has
    the machine to itself by other means (``quiet``), so that a training loop inside it
    does not wait for cores that paused processes hold."""
    global _held
    before, _held = _held, os.cpu_count() or 1
    try:
        yield
    finally:
        _held = before
