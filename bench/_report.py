"""Shared by the benchmarks: summarise per-step times, write them as JSON, print a summary."""

from __future__ import annotations

import json
import statistics
from pathlib import Path


def write_report(
    out: str, meta: dict, times: dict[str, list[float]], ratio: tuple[str, str] | None = None
) -> None:
    """Write ``meta`` plus min/median/all of each timing (ms per step) to ``out``; print them
    and, if asked, the ratio of the medians of ``ratio[0]`` over ``ratio[1]``."""
    summary = {
        name: {"min": min(v), "median": statistics.median(v), "all": v} for name, v in times.items()
    }
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({**meta, "ms_per_step": summary}, indent=2))
    width = max(map(len, times))
    for name, s in summary.items():
        print(f"{name:>{width}}: min {s['min']:.3f} ms/step, median {s['median']:.3f} ms/step")
    if ratio is None:
        print(f"written to {path}")
        return
    a, b = ratio
    print(
        f"{a} / {b} (medians): {summary[a]['median'] / summary[b]['median']:.3f}; written to {path}"
    )
