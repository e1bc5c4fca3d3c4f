"""Every glued value of a built book, to compare two builds: ``python tools/glued.py``.

``glued.py [BUILD]`` writes ``{page: {name: value}}`` as JSON (stdout) from the executed
notebooks myst-nb keeps in ``BUILD/jupyter_execute`` (default ``_build``): each value as the
text the prose shows it from (``text/plain``; a figure by its kind, not its pixels).
``glued.py --compare BEFORE.json AFTER.json`` lists every value that differs, and exits 1
if any does. Values that are timings of this build differ from run to run: name patterns
given with ``--timing`` (default: names with ``second``, ``ms_``, ``_ms`` or ``time``) are
listed apart and do not count.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

TIMING = r"second|ms_|_ms|time|speed"


def glued(build: Path) -> dict[str, dict[str, str]]:
    """``{page: {glue name: shown value}}`` for every executed notebook under ``build``."""
    pages = {}
    for path in sorted((build / "jupyter_execute").rglob("*.ipynb")):
        nb = json.loads(path.read_text())
        values = {}
        for cell in nb["cells"]:
            for out in cell.get("outputs", []):
                name = out.get("metadata", {}).get("scrapbook", {}).get("name")
                if name is None:
                    continue
                data = out.get("data", {})
                if "text/plain" in data and not any(k.startswith("image/") for k in data):
                    values[name] = "".join(data["text/plain"])
                else:
                    values[name] = "<" + ", ".join(sorted(data)) + ">"
        pages[path.relative_to(build / "jupyter_execute").with_suffix("").as_posix()] = values
    return pages


def compare(before: dict, after: dict, timing: str) -> int:
    """Print the differences; the number of those that are not timings."""
    counted = 0
    for page in sorted(set(before) | set(after)):
        a, b = before.get(page, {}), after.get(page, {})
        for name in sorted(set(a) | set(b)):
            if a.get(name) == b.get(name):
                continue
            kind = "timing" if re.search(timing, name) else "DIFFERS"
            counted += kind == "DIFFERS"
            print(f"{kind:8} {page}:{name}: {a.get(name)!r} -> {b.get(name)!r}")
    same = sum(len(v) for v in after.values()) - counted
    print(f"{sum(len(v) for v in before.values())} values before, "
          f"{sum(len(v) for v in after.values())} after; {counted} differ (timings aside); "
          f"{same} of the after values match or are timings")  # fmt: skip
    return counted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("build", nargs="?", default="_build", type=Path)
    parser.add_argument("--compare", nargs=2, type=Path, metavar=("BEFORE", "AFTER"))
    parser.add_argument("--timing", default=TIMING, help="regex of glue names that are timings")
    args = parser.parse_args()
    if args.compare:
        before, after = (json.loads(p.read_text()) for p in args.compare)
        sys.exit(1 if compare(before, after, args.timing) else 0)
    json.dump(glued(args.build), sys.stdout, indent=1, sort_keys=True)
    print()


if __name__ == "__main__":
    main()
