"""Training progress, reported from inside the chapters' kernels to the book's build.

A chapter executes in a kernel whose output nobody sees until the page is done, so a clean
build would sit silent for minutes. While the book builds, ``$CHARLM_PROGRESS`` names a
folder and ``$CHARLM_PAGE`` the page a kernel executes; every training loop then writes
a small JSON file there (what it trains, steps done of all, seconds so far), at most twice
a second, and removes it when it ends, adding its last state as one line of
``finished.jsonl``. The build (``book/_ext/execution.py``) reads the folder while it waits
and, in a terminal, shows one line per executing page; ``bench/build.py`` reads the finished
loops of a clean build to find its longest training run.

A training loop gets its ``Reporter`` from ``seam.training_loop``, which the build plugs into
``charlm.train.watch``. Without the variables, as everywhere outside the build,
``reporter()`` is None and nothing is written.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from charlm.bookbuild import PAGE_ENV, PROGRESS_ENV

EVERY = 0.5  # seconds between two writes of the same loop's file
FINISHED = "finished.jsonl"  # one line per loop that ended, in the order they ended


class Reporter:
    """A progress bar's ``update``/``close`` that writes the loop's state to a file."""

    def __init__(self, path: Path, page: str, what: str, total: int) -> None:
        self.path = path
        self.state = {"page": page, "what": what, "done": 0, "total": total, "seconds": 0.0}
        self.start = time.perf_counter()
        self.written = -EVERY  # write at the first update

    def update(self, n: int = 1) -> None:
        """``n`` more steps done; rewrite the file if the last write is old enough."""
        self.state["done"] += n
        now = time.perf_counter() - self.start
        if now - self.written >= EVERY:
            self.state["seconds"] = now
            self.written = now
            partial = self.path.with_suffix(".tmp")
            partial.write_text(json.dumps(self.state))
            partial.replace(self.path)  # a reader never sees half a file

    def close(self) -> None:
        """The loop has ended: its file goes, and its last state joins ``FINISHED``."""
        self.state["seconds"] = time.perf_counter() - self.start
        self.state["ended"] = time.time()  # so a build's loops can be laid out in time
        line = (json.dumps(self.state) + "\n").encode()
        fd = os.open(self.path.parent / FINISHED, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)  # one short appended write: loops ending together do not mix
        finally:
            os.close(fd)
        self.path.unlink(missing_ok=True)
        self.path.with_suffix(".tmp").unlink(missing_ok=True)


def reporter(what: str, total: int) -> Reporter | None:
    """A ``Reporter`` for a loop of ``total`` steps while the book builds, else None."""
    folder = os.environ.get(PROGRESS_ENV)
    if not folder:
        return None
    page = os.environ.get(PAGE_ENV, "?")
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    name = f"{page.replace('/', '-')}-{os.getpid()}-{time.monotonic_ns()}.json"
    return Reporter(path / name, page, what, total)


@dataclass(frozen=True)
class Loop:
    """One training loop's last reported state, as the build reads it."""

    page: str  # the docname of the page whose kernel runs it
    what: str  # the model's class, e.g. "WaveNet"
    done: int  # steps done
    total: int  # steps in all
    seconds: float  # since the loop began
    ended: float | None = None  # when it ended (seconds since the epoch); None while running

    @property
    def seconds_left(self) -> float | None:
        """At the pace so far; None before any step is done."""
        if self.done <= 0:
            return None
        return self.seconds / self.done * (self.total - self.done)


def read_loops(folder: str | Path) -> list[Loop]:
    """Every loop reporting under ``folder`` now (a file that vanished is skipped)."""
    loops = []
    for path in sorted(Path(folder).glob("*.json")):
        try:
            loops.append(Loop(**json.loads(path.read_text())))
        except (OSError, ValueError, TypeError):
            continue  # it ended (or is being replaced) as we read
    return loops


def read_finished(folder: str | Path) -> list[Loop]:
    """Every loop that ended while ``folder`` was the progress folder, in the order they ended."""
    path = Path(folder) / FINISHED
    if not path.exists():
        return []
    return [Loop(**json.loads(line)) for line in path.read_text().splitlines() if line.strip()]
