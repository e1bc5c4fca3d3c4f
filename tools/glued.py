"""Every glued value of a built book, to compare two builds: ``python tools/glued.py``.

``glued.py [BUILD]`` writes ``{page: {name: value}}`` as JSON (stdout) from the executed
notebooks in the build's execution cache (``BUILD/.jupyter_cache``, default ``_build``):
each value as the text the prose shows it from (``text/plain``; a figure by its kind, not
its pixels). Pages are named by their path from the repository root.
``glued.py --compare BEFORE.json AFTER.json`` lists every value that differs, and exits 1
if any does. Each page's displayed outputs (printed text, tables) are compared too, in any
order, and listed when they differ. Values that are timings of this build differ from run
to run: names matching ``--timing`` (default: ``TIMING``, the book's timing names) are
listed apart and do not count. ``--within 0.15`` also checks the printed timing *ratios*
(names matching ``RATIO``: two timings of one build divided, e.g. a speed-up): each must
agree with the other build's within that fraction, or the comparison exits 1; the largest
change is printed either way.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

# the names of the book's timings: seconds, minutes, ms and µs per step, speed-ups, thread
# ratios, and the ranges printed beside them
TIMING = (
    r"second|^ms|_ms|^us|_us$|time|speed|^ratio_\d+_\d+$|two_threads"
    r"|^(ex4|cat_view|ce|search_step|scalar_tensor)_ratio$|^tf_first_below$|^tf_gru_step$"
    r"|_spread$|_minutes$"
)

# of those, the ratios of two timings of the same build, which should agree between builds
RATIO = r"ratio$|^ratio_\d+_\d+$|speedup$|^two_threads_\d+$|^tf_gru_step$"


def glued(build: Path) -> dict[str, dict[str, str]]:
    """``{page: {glue name: shown value}}`` for every notebook in ``build``'s cache."""
    from jupyter_cache import get_cache

    cache = get_cache(build / ".jupyter_cache")
    pages = {}
    for record in cache.list_cache_records():
        nb = cache.get_cache_bundle(record.pk).nb
        values = {}
        for cell in nb.cells:
            for out in cell.get("outputs", []):
                name = out.get("metadata", {}).get("scrapbook", {}).get("name")
                if name is None:
                    shown = _shown(out)
                    if shown:  # what a cell displays: in the page's "(outputs)", as a list
                        values.setdefault("(outputs)", []).append(shown)
                    continue
                prefix = "application/papermill.record/"  # how glue stores a value's kinds
                data = {k.removeprefix(prefix): v for k, v in out.get("data", {}).items()}
                if "text/plain" in data and not any(k.startswith("image/") for k in data):
                    values[name] = "".join(data["text/plain"])
                else:
                    values[name] = "<" + ", ".join(sorted(data)) + ">"
        uri = Path(record.uri)
        pages["/".join(uri.parts[-2:])] = values  # book/01_bigram.md, wherever the clone is
    return dict(sorted(pages.items()))


def _shown(out: dict) -> str | None:
    """The text a displayed output shows (printed text, a table, a value), else None."""
    if out.get("output_type") == "stream":
        return "".join(out.get("text", ""))
    data = out.get("data", {})
    for kind in ("text/markdown", "text/plain"):
        if kind in data and not any(k.startswith("image/") for k in data):
            return "".join(data[kind])
    return None


def _number(text: object) -> float | None:
    try:
        return float(text) if isinstance(text, str) else None
    except ValueError:
        return None


def ratio_changes(before: dict, after: dict, timing: str) -> dict[str, float]:
    """``{page:name: relative change}`` of every timing ratio (a name matching both
    ``timing`` and ``RATIO``) in both builds."""
    changes = {}
    for page in sorted(set(before) & set(after)):
        for name in sorted(set(before[page]) & set(after[page])):
            a, b = _number(before[page][name]), _number(after[page][name])
            if re.search(RATIO, name) and re.search(timing, name) and a and b is not None:
                changes[f"{page}:{name}"] = b / a - 1
    return changes


def compare(before: dict, after: dict, timing: str) -> int:
    """Print the differences; the number of those that are not timings."""
    counted = 0
    for page in sorted(set(before) | set(after)):
        a, b = before.get(page, {}), after.get(page, {})
        for name in sorted(set(a) | set(b)):
            if name == "(outputs)":  # the same outputs, in any order
                gone = [x for x in a.get(name, []) if x not in b.get(name, [])]
                new = [x for x in b.get(name, []) if x not in a.get(name, [])]
                for x in gone + new:
                    print(f"OUTPUT   {page}: {'-' if x in gone else '+'} {x[:300]!r}")
                continue
            if a.get(name) == b.get(name):
                continue
            kind = "timing" if re.search(timing, name) else "DIFFERS"
            counted += kind == "DIFFERS"
            print(f"{kind:8} {page}:{name}: {a.get(name)!r} -> {b.get(name)!r}")

    def count(pages: dict) -> int:
        return sum(len(v) - ("(outputs)" in v) for v in pages.values())

    print(f"{count(before)} glued values before, {count(after)} after; {counted} differ "
          "(timings aside); displayed outputs that differ are listed as OUTPUT")  # fmt: skip
    return counted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("build", nargs="?", default="_build", type=Path)
    parser.add_argument("--compare", nargs=2, type=Path, metavar=("BEFORE", "AFTER"))
    parser.add_argument("--timing", default=TIMING, help="regex of glue names that are timings")
    parser.add_argument("--within", type=float, metavar="FRACTION",
                        help="fail if a timing ratio changed more than this (0.15)")  # fmt: skip
    args = parser.parse_args()
    if args.compare:
        before, after = (json.loads(p.read_text()) for p in args.compare)
        failed = compare(before, after, args.timing) > 0
        changes = ratio_changes(before, after, args.timing)
        for name, change in sorted(changes.items(), key=lambda item: -abs(item[1])):
            print(f"ratio    {name}: {change:+.1%}")
        if changes:
            name, worst = max(changes.items(), key=lambda item: abs(item[1]))
            print(f"{len(changes)} timing ratios; the largest change is {worst:+.1%} ({name})")
            if args.within is not None and abs(worst) > args.within:
                print(f"that is more than the {args.within:.0%} allowed")
                failed = True
        sys.exit(1 if failed else 0)
    json.dump(glued(args.build), sys.stdout, indent=1, sort_keys=True)
    print()


if __name__ == "__main__":
    main()
