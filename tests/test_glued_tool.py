"""tools/glued.py --compare: timing ratios of two builds must agree within a fraction."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

TOOL = Path(__file__).resolve().parent.parent / "tools" / "glued.py"


def compare(tmp_path: Path, before: dict, after: dict, *options: str):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(before))
    b.write_text(json.dumps(after))
    cmd = [sys.executable, str(TOOL), "--compare", str(a), str(b), *options]
    return subprocess.run(cmd, capture_output=True, text=True)


def test_timing_ratios_within_the_fraction_pass_and_beyond_it_fail(tmp_path):
    page = "book/06_fast.md"
    before = {page: {"two_threads_32": "1.00", "ms32": "3.0", "small_grad_ratio": "0.5"}}
    close = {page: {"two_threads_32": "1.10", "ms32": "6.0", "small_grad_ratio": "0.5"}}
    far = {page: {"two_threads_32": "1.20", "ms32": "3.0", "small_grad_ratio": "0.5"}}
    ok = compare(tmp_path, before, close, "--within", "0.15")
    assert ok.returncode == 0, ok.stdout
    # a timing that is not a ratio (ms32) may drift with the machine; a ratio may not
    assert "the largest change is +10.0% (book/06_fast.md:two_threads_32)" in ok.stdout
    bad = compare(tmp_path, before, far, "--within", "0.15")
    assert bad.returncode == 1 and "more than the 15% allowed" in bad.stdout
    # a ratio that is no timing (a gradient ratio) counts as a value that must not change
    moved = {page: {**before[page], "small_grad_ratio": "0.6"}}
    assert compare(tmp_path, before, moved).returncode == 1
