"""Each chapter's headline result, recorded for the book's results page.

A chapter calls ``record_result(chapter=..., model=..., ...)`` once per headline model;
when ``$CHARLM_RESULTS`` names a folder (the book build sets it) the result is written there
as JSON, and the results page reads them all back with ``load_results()``. Outside the
build, ``record_result`` does nothing. Values are whatever the chapter computed in the same
build: nothing here is typed in.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from charlm.bookbuild import RESULTS_ENV


@dataclass(frozen=True)
class Result:
    """One headline model: its losses, training time and the lecture's printed numbers."""

    chapter: int  # the chapter that trains it
    model: str  # a short name, e.g. "MLP + BatchNorm"
    params: int  # number of parameters
    train: float  # mean loss on the training split (the whole dataset for Chapter 1)
    dev: float | None = None  # dev split (the lectures' "val")
    test: float | None = None
    seconds: float | None = None  # training time: steps x median step time (charlm.timing)
    lecture_train: float | None = None  # the lecture's printed train loss, if any
    lecture_val: float | None = None  # the lecture's printed val loss, if any
    recipe: str = ""  # how it was trained, in a few words

    def __post_init__(self) -> None:
        if not isinstance(self.chapter, int) or self.chapter < 1:
            raise ValueError(f"Result.chapter must be a positive integer, got {self.chapter!r}")
        if not self.model:
            raise ValueError("Result.model must name the model")


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def record_result(*, folder: str | Path | None = None, **values) -> None:
    """Record a ``Result(**values)`` in ``folder`` (default ``$CHARLM_RESULTS``).

    Nothing is written when neither is set (outside the book's build); the values are
    checked either way, so a chapter's mistake shows outside the build too. It returns
    nothing, so a chapter's notebook keeps no path of the machine that built it.
    """
    result = Result(**values)
    folder = folder or os.environ.get(RESULTS_ENV)
    if not folder:
        return
    path = Path(folder) / f"{result.chapter:02d}-{_slug(result.model)}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(asdict(result), indent=2) + "\n")
    os.replace(tmp, path)  # readers see the whole record or none


def load_results(folder: str | Path | None = None) -> list[Result]:
    """Every recorded result, by chapter; a clear error when there is nothing to load."""
    folder = folder or os.environ.get(RESULTS_ENV)
    if not folder or not Path(folder).is_dir():
        raise FileNotFoundError(
            f"no results folder ({RESULTS_ENV} is {folder!r}): the results page is built with "
            "the book (make book), after every chapter has run; if the chapters' outputs were "
            "cached without their records, start afresh with make clean && make book"
        )
    names = {f.name for f in fields(Result)}
    results = []
    for path in sorted(Path(folder).glob("*.json")):
        data = json.loads(path.read_text())
        if set(data) != names:
            raise ValueError(f"{path} is not a charlm result record (fields {sorted(data)})")
        results.append(Result(**data))
    return sorted(results, key=lambda r: (r.chapter, r.model))
