"""Each chapter's headline result, recorded for the book's results page; its headline
model, exported for the sampler page.

A chapter calls ``record_result(chapter=..., model=..., ...)`` once per headline model;
when ``$CHARLM_RESULTS`` names a folder (the book build sets it) the result is written there
as JSON, and the results page reads them all back with ``load_results()``. Outside the
build, ``record_result`` does nothing. Values are whatever the chapter computed in the same
build: nothing here is typed in.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from charlm.bookbuild import RESULTS_ENV, SITE_ENV
from charlm.export import to_bytes
from charlm.sample import sample
from charlm.vocab import Vocab


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


MODELS = "models"  # under the records folder: each exported model and its record
CHECK_PREFIXES = ("", "a", "emm", "kay", "jo")  # and one that fills the model's window
SAMPLES = 10  # names each model samples for its record (the page's static fallback)
TOLERANCE = 1e-5  # the most the page's probabilities may differ from torch's (check-site)
TIMED_NAMES = 20  # check-site times the page sampling this many names from each model


def window_prefix(block_size: int, vocab: Vocab) -> str:
    """A prefix as long as the model's window, to check a context with no boundary in it:
    "isabellaisa..." where the vocabulary has those letters, else its own characters."""
    letters = "isabella" if set("isabella") <= set(vocab.itos[1:]) else "".join(vocab.itos[1:])
    return (letters * (block_size // len(letters) + 1))[:block_size]


def check_prefixes(block_size: int, vocab: Vocab) -> list[str]:
    """The prefixes a model's record holds torch's probabilities for: ``CHECK_PREFIXES``
    that the vocabulary can spell, then one that fills the window."""
    known = set(vocab.itos[1:])
    spelled = [p for p in CHECK_PREFIXES if set(p) <= known]
    return [*spelled, window_prefix(block_size, vocab)]


@torch.no_grad()
def next_char_probs(model: nn.Module, vocab: Vocab, prefix: str) -> list[float]:
    """Torch's probabilities of the next character after ``prefix`` (eval mode), as the
    sampler page computes them: the context is the window ending with ``prefix``."""
    block_size = model.block_size
    context = ([0] * block_size + vocab.encode(prefix))[-block_size:]
    logits = model(torch.tensor([context]))  # (1, V)
    return torch.softmax(logits.double(), dim=1)[0].tolist()


def record_model(*, key: str, title: str, chapter: int, model: nn.Module, vocab: Vocab,
                 kind: str, config: Any = None, trained_on: str = "train",
                 folder: str | Path | None = None) -> None:  # fmt: skip
    """Export a chapter's headline model for the sampler page (``charlm.export``), in eval
    mode, with torch's next-character probabilities on fixed prefixes (the page must
    reproduce them) and a few names it samples with a fixed seed.

    ``trained_on`` is ``"train"`` (the 80% training split) or ``"all"`` (every name, as
    Chapter 1's counts). Like ``record_result``, nothing is written outside the build.
    """
    if trained_on not in ("train", "all"):
        raise ValueError(f"trained_on must be 'train' or 'all', got {trained_on!r}")
    was_training = model.training
    model.eval()
    try:
        blob = to_bytes(model, vocab, kind, config)
        checks = [{"prefix": p, "probs": next_char_probs(model, vocab, p)}
                  for p in check_prefixes(model.block_size, vocab)]  # fmt: skip
        names = sample(model, vocab, SAMPLES, torch.Generator().manual_seed(0))
    finally:
        model.train(was_training)
    folder = folder or os.environ.get(RESULTS_ENV)
    if not folder:
        return
    record = {
        "key": key, "title": title, "chapter": chapter, "kind": kind,
        "file": f"{key}.charlm", "bytes": len(blob), "sha256": hashlib.sha256(blob).hexdigest(),
        "params": sum(p.numel() for p in model.parameters()), "block_size": model.block_size,
        "trained_on": trained_on, "vocab": vocab.itos, "samples": names, "checks": checks,
    }  # fmt: skip
    path = Path(folder) / MODELS / f"{key}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    for target, data in ((path.with_suffix(".charlm"), blob),
                         (path, (json.dumps(record) + "\n").encode())):  # fmt: skip
        tmp = target.with_suffix(f".tmp{os.getpid()}")
        tmp.write_bytes(data)
        os.replace(tmp, target)  # the export first: a record never names a missing file


def load_models(folder: str | Path | None = None) -> list[dict]:
    """Every recorded model, by chapter (``record_model``); an error when there are none."""
    folder = Path(folder or os.environ.get(RESULTS_ENV) or "")
    found = sorted((folder / MODELS).glob("*.json")) if str(folder) else []
    if not found:
        raise FileNotFoundError(
            f"no model records in {folder / MODELS}: the sampler page is built with the book "
            "(make book), after every chapter has run"
        )
    records = [json.loads(path.read_text()) | {"path": str(path.with_suffix(".charlm"))}
               for path in found]  # fmt: skip
    return sorted(records, key=lambda r: (r["chapter"], r["key"]))


def publish(name: str, data: bytes, folder: str | Path | None = None) -> None:
    """Put a file into the site, under ``_static/sampler/data/``: it is written to ``folder``
    (default ``$CHARLM_SITE``), which the book's ``site_assets`` extension copies there when
    the build ends. Apart from the records, so that publishing changes no page's key."""
    folder = folder or os.environ.get(SITE_ENV)
    if not folder:
        return
    target = Path(folder) / name
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(f".tmp{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, target)


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
