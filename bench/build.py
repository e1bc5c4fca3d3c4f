"""Benchmark the book's build: clean, warm, prose edit, charlm edit, and each chapter.

Run by ``make bench`` from the repository root, with the venv and the data in place (the
Makefile sees to both). Every figure is measured here and now, never estimated:

- **clean**: ``rm -rf _build``, then ``make book`` (no execution cache, no run cache);
  each chapter's execution (start, end, seconds) comes from ``_build/execution.json``;
- **warm**: ``make book`` again with nothing changed (``--repeat`` times);
- **prose edit**: a sentence appended to a chapter's prose, built, then removed and built
  again (both builds count);
- **charlm edit**: a statement added to one function of ``charlm/report.py`` (the tables),
  built, then removed and built again (reported apart: undoing an edit finds the earlier
  outputs still in the cache); which chapters re-executed, and how long they took, comes
  from ``execution.json``.

Prints a table and writes ``_build/bench/build.json``. It edits tracked files and restores
them, so run it on a clean working tree; the edits are undone even if a build fails.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "_build"
PROSE_FILE = ROOT / "book" / "01_bigram.md"
PROSE_EDIT = "\n\nThis sentence was added by the build benchmark and is removed again.\n"
CODE_FILE = ROOT / "charlm" / "report.py"
CODE_ANCHOR = "    if any(len(row) != len(headers) for row in rows):\n"
CODE_EDIT = "    rows = list(rows)  # added by the build benchmark, removed again\n"


def make_book() -> tuple[float, dict]:
    """One ``make book``: its wall time, and what the pre-executor ran (if anything)."""
    record = BUILD / "execution.json"
    record.unlink(missing_ok=True)
    start = time.perf_counter()
    proc = subprocess.run(["make", "book"], cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-4000:])
        raise SystemExit(f"bench: make book failed (exit {proc.returncode})")
    executed = json.loads(record.read_text()) if record.exists() else {"seconds": 0, "pages": {}}
    return seconds, executed


@contextmanager
def edited(path: Path, old: str, new: str):
    """``path`` with ``old`` replaced by ``new`` for the body; restored afterwards, always."""
    original = path.read_text()
    if old not in original:
        raise SystemExit(f"bench: {path} no longer contains the text this benchmark edits")
    path.write_text(original.replace(old, new, 1))
    try:
        yield
    finally:
        path.write_text(original)


def summary(values: list[float]) -> dict:
    return {"runs": values, "min": min(values), "median": statistics.median(values)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs of each cheap build")
    args = parser.parse_args()
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "book", "charlm"], cwd=ROOT,
                           capture_output=True, text=True).stdout.strip()  # fmt: skip
    if dirty:
        raise SystemExit("bench: commit or stash your changes to book/ and charlm/ first")

    print("bench: clean build (rm -rf _build; make book) ...", flush=True)
    shutil.rmtree(BUILD, ignore_errors=True)
    clean, executed = make_book()
    chapters = {doc: page["seconds"] for doc, page in executed["pages"].items()}

    print("bench: warm rebuilds ...", flush=True)
    warm = [make_book()[0] for _ in range(args.repeat)]

    print("bench: prose edits ...", flush=True)
    prose = []
    for _ in range(args.repeat):
        text = PROSE_FILE.read_text()
        with edited(PROSE_FILE, text, text + PROSE_EDIT):
            prose.append(make_book()[0])
        prose.append(make_book()[0])  # the edit undone is another prose edit

    print("bench: charlm edits ...", flush=True)
    code, reexecuted = [], []
    with edited(CODE_FILE, CODE_ANCHOR, CODE_EDIT + CODE_ANCHOR):
        seconds, executed = make_book()
    code.append(seconds)
    reexecuted.append({d: p["seconds"] for d, p in executed["pages"].items()})
    seconds, executed = make_book()  # the edit undone
    code.append(seconds)
    reexecuted.append({d: p["seconds"] for d, p in executed["pages"].items()})

    report = {
        "clean_seconds": clean,
        "chapters_seconds": chapters,
        "warm_seconds": summary(warm),
        "prose_edit_seconds": summary(prose),
        "charlm_edit_seconds": {"edit": code[0], "edit_undone": code[1]},
        "charlm_edit_reexecuted": reexecuted,
        "charlm_edit": f"{CODE_FILE.relative_to(ROOT)}: markdown_table",
    }
    out = BUILD / "bench" / "build.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print_report(report)
    print(f"bench: written to {out.relative_to(ROOT)}")


def print_report(report: dict) -> None:
    print(f"\n{'build':<32}{'min (s)':>10}{'median (s)':>12}")
    print(f"{'clean (no caches)':<32}{report['clean_seconds']:>10.1f}{'':>12}")
    for key, label in [
        ("warm_seconds", "warm, nothing changed"),
        ("prose_edit_seconds", "prose edit"),
    ]:
        s = report[key]
        print(f"{label:<32}{s['min']:>10.1f}{s['median']:>12.1f}")
    code = report["charlm_edit_seconds"]
    print(f"charlm edit ({report['charlm_edit']}): {code['edit']:.1f} s; "
          f"undone: {code['edit_undone']:.1f} s")  # fmt: skip
    print("\nchapter execution in the clean build (side by side):")
    for doc, seconds in sorted(report["chapters_seconds"].items()):
        print(f"  {doc:<28}{seconds:>8.1f} s")
    for i, pages in enumerate(report["charlm_edit_reexecuted"]):
        what = "edit" if i == 0 else "edit undone"
        ran = ", ".join(f"{d} {s:.0f} s" for d, s in sorted(pages.items())) or "nothing"
        print(f"charlm {what}: re-executed {ran}")


if __name__ == "__main__":
    main()
