"""Benchmark the book's build: clean, warm, prose edit, charlm edit, and each chapter.

Run by ``make bench`` from the repository root, with the venv and the data in place (the
Makefile sees to both). Every figure is measured here and now, never estimated:

- **clean**: ``rm -rf _build``, then ``make book`` (no execution cache, no run cache);
  each chapter's execution (start, end, seconds, and CPU seconds of its kernel and the
  workers it started) comes from ``_build/execution.json``, and every training loop's
  seconds from ``_build/progress/finished.jsonl``; every timing the book printed, how long it
  held the machine and what the rest of the machine used meanwhile, from
  ``_build/cores/quiet.jsonl`` (``charlm.bookbuild.quiet``). **The budget is a ratio
  measured in this one build**: the clean build's wall time over its longest training run's;
- **warm**: ``make book`` again with nothing changed (``--repeat`` times);
- **prose edit**: a sentence appended to a chapter's prose, built, then removed and built
  again (both builds count);
- **charlm edit**: a function appended to ``charlm/report.py`` (the tables), built, then
  removed and built again (reported apart: undoing an edit finds the earlier outputs still
  in the cache); which chapters re-executed, and how long they took, comes from
  ``execution.json``. Appending, rather than editing a line, survives any reformatting.

**Scaled to the reference speed.** This machine's speed drifts from day to day (the plain
lecture loop of ``train_step.py`` has run at 0.30 ms/step on one day and 0.51 on another).
So the plain loop is timed before and after the builds, and every build time is also
reported scaled to the reference speed: multiplied by ``REFERENCE_MS`` (0.30 ms) over the
plain loop's median ms/step in this run, as a secondary figure (the speed of different
models does not drift evenly between hosts, so budgets are the ratio above).

Prints a table and writes ``_build/bench/build.json``, and the clean build's glued values
(``tools/glued.py``) to ``_build/bench/glued-clean.json``. It edits tracked files and restores
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
CODE_EDIT = "\n\ndef _added_by_the_build_benchmark():\n    return None  # removed again\n"
REFERENCE_MS = 0.30  # the plain lecture loop's ms/step on the reference day
YARDSTICK = {"steps": 20_000, "repeats": 3}  # each time the plain loop is timed


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
def appended(path: Path, text: str):
    """``path`` with ``text`` appended for the body; its exact bytes restored afterwards."""
    original = path.read_bytes()
    path.write_bytes(original + text.encode())
    try:
        yield
    finally:
        path.write_bytes(original)


def yardstick() -> list[float]:
    """The plain lecture loop's ms/step, timed ``YARDSTICK["repeats"]`` times, one thread."""
    import torch
    from train_step import lecture_data, lecture_loop

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        X, Y = lecture_data()
        steps = YARDSTICK["steps"]
        return [1e3 * lecture_loop(X, Y, steps, 32)[0] / steps for _ in range(YARDSTICK["repeats"])]
    finally:
        torch.set_num_threads(threads)


def finished_loops() -> list[dict]:
    """Every training loop of the last build: page, model, steps and seconds, in end order."""
    path = BUILD / "progress" / "finished.jsonl"
    if not path.exists():
        raise SystemExit(f"bench: no {path.relative_to(ROOT)}: the clean build trained nothing?")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def quiet_timings() -> dict:
    """The clean build's timings: how many, their seconds, and the CPU-seconds the rest of
    the machine used during them (near zero: each had the machine to itself)."""
    path = BUILD / "cores" / "quiet.jsonl"
    lines = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    worst = max(lines, key=lambda t: t["others_cpu"] / max(t["seconds"], 1e-9), default=None)
    return {
        "count": len(lines),
        "seconds": sum(t["seconds"] for t in lines),
        "others_cpu": sum(t["others_cpu"] for t in lines),
        "worst": worst,  # the largest share of a core the rest of the machine used
        "timings": lines,
    }


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

    print("bench: the plain lecture loop, before the builds ...", flush=True)
    loop_ms = yardstick()
    print("bench: clean build (rm -rf _build; make book) ...", flush=True)
    shutil.rmtree(BUILD, ignore_errors=True)
    clean, executed = make_book()
    chapters = {doc: page["seconds"] for doc, page in executed["pages"].items()}
    chapters_cpu = {doc: page.get("cpu_seconds", 0.0) for doc, page in executed["pages"].items()}
    loops = finished_loops()
    timings = quiet_timings()
    longest = max(loops, key=lambda loop: loop["seconds"])
    print(
        f"bench: clean build {clean:.1f} s, its longest run {longest['seconds']:.1f} s "
        f"({longest['page']}): ratio {clean / longest['seconds']:.2f}",
        flush=True,
    )

    # every glued value of the clean build, before a rebuild re-executes any page: to compare
    # two clean builds (tools/glued.py --compare A B --within 0.15, as CONTRIBUTING.md says)
    (BUILD / "bench").mkdir(parents=True, exist_ok=True)
    with open(BUILD / "bench" / "glued-clean.json", "w") as out:
        subprocess.run([sys.executable, str(ROOT / "tools" / "glued.py"), str(BUILD)], cwd=ROOT,
                       stdout=out, check=True)  # fmt: skip

    print("bench: warm rebuilds ...", flush=True)
    warm = [make_book()[0] for _ in range(args.repeat)]

    print("bench: prose edits ...", flush=True)
    prose = []
    for _ in range(args.repeat):
        with appended(PROSE_FILE, PROSE_EDIT):
            prose.append(make_book()[0])
        prose.append(make_book()[0])  # the edit undone is another prose edit

    print("bench: charlm edits ...", flush=True)
    code, reexecuted = [], []
    with appended(CODE_FILE, CODE_EDIT):
        seconds, executed = make_book()
    code.append(seconds)
    reexecuted.append({d: p["seconds"] for d, p in executed["pages"].items()})
    seconds, executed = make_book()  # the edit undone
    code.append(seconds)
    reexecuted.append({d: p["seconds"] for d, p in executed["pages"].items()})

    print("bench: the plain lecture loop, after the builds ...", flush=True)
    loop_ms += yardstick()
    median_ms = statistics.median(loop_ms)
    report = {
        "plain_loop_ms_per_step": {"runs": loop_ms, "median": median_ms},
        "reference_ms_per_step": REFERENCE_MS,
        "scale": REFERENCE_MS / median_ms,
        "clean_seconds": clean,
        "longest_run": longest,
        "clean_over_longest_run": clean / longest["seconds"],
        "training_loops": loops,
        "timings": timings,
        "chapters_seconds": chapters,
        "chapters_cpu_seconds": chapters_cpu,
        "warm_seconds": summary(warm),
        "prose_edit_seconds": summary(prose),
        "charlm_edit_seconds": {"edit": code[0], "edit_undone": code[1]},
        "charlm_edit_reexecuted": reexecuted,
        "charlm_edit": f"{CODE_FILE.relative_to(ROOT)}: a function appended",
    }
    out = BUILD / "bench" / "build.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print_report(report)
    print(f"bench: written to {out.relative_to(ROOT)}")


def print_report(report: dict) -> None:
    k = report["scale"]
    loop = report["plain_loop_ms_per_step"]["median"]
    print(f"\nplain lecture loop: {loop:.3f} ms/step (median); scaled = measured x "
          f"{REFERENCE_MS:.2f} / {loop:.3f} = measured x {k:.3f}")  # fmt: skip
    print(f"\n{'build':<34}{'min (s)':>9}{'median (s)':>12}{'scaled median (s)':>19}")
    clean = report["clean_seconds"]
    print(f"{'clean (no caches)':<34}{clean:>9.1f}{clean:>12.1f}{clean * k:>19.1f}")
    for key, label in [
        ("warm_seconds", "warm, nothing changed"),
        ("prose_edit_seconds", "prose edit"),
    ]:
        s = report[key]
        print(f"{label:<34}{s['min']:>9.1f}{s['median']:>12.1f}{s['median'] * k:>19.1f}")
    code = report["charlm_edit_seconds"]
    for key, label in [("edit", "charlm edit"), ("edit_undone", "charlm edit undone")]:
        print(f"{label:<34}{code[key]:>9.1f}{code[key]:>12.1f}{code[key] * k:>19.1f}")
    longest = report["longest_run"]
    print(f"\nclean build / its longest training run = {clean:.1f} s / {longest['seconds']:.1f} s "
          f"= {report['clean_over_longest_run']:.2f}  (the longest: {longest['what']}, "
          f"{longest['total']:,} steps, {longest['page']})")  # fmt: skip
    cpu = report["chapters_cpu_seconds"]
    print("\npages in the clean build (side by side): wall and CPU seconds (kernel and workers)")
    for doc, seconds in sorted(report["chapters_seconds"].items()):
        print(f"  {doc:<28}{seconds:>8.1f} s{cpu.get(doc, 0.0):>8.1f} s CPU")
    total = sum(cpu.values())
    print(f"  {'all pages':<28}{'':>10}{total:>8.1f} s CPU = {total / clean:.2f} cores busy "
          "on average over the clean build")  # fmt: skip
    t = report["timings"]
    if t["worst"]:
        w = t["worst"]
        print(f"\ntimings with the machine to itself: {t['count']}, {t['seconds']:.1f} s in all; "
              f"the rest of the machine used {t['others_cpu']:.2f} CPU-s during them, at most "
              f"{w['others_cpu'] / w['seconds']:.1%} of a core (in a timing of "
              f"{w['seconds']:.2f} s)")  # fmt: skip
    for i, pages in enumerate(report["charlm_edit_reexecuted"]):
        what = "edit" if i == 0 else "edit undone"
        ran = ", ".join(f"{d} {s:.0f} s" for d, s in sorted(pages.items())) or "nothing"
        print(f"charlm {what}: re-executed {ran}")


if __name__ == "__main__":
    main()
