"""The build benchmark's charlm edit: it must change what the fingerprints see, whatever the
file looks like, and leave the file byte for byte as it was."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from charlm.bookbuild.digest import code_digest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def build_bench():
    sys.path.insert(0, str(ROOT / "bench"))  # as when run: bench/ is the script's folder
    try:
        spec = importlib.util.spec_from_file_location("bench_build", ROOT / "bench" / "build.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.path.remove(str(ROOT / "bench"))


@pytest.mark.parametrize(
    "source",
    [
        (ROOT / "charlm" / "report.py").read_text(),  # the file it edits, as it is today
        "def markdown_table(headers, rows):\n    return '|'.join(headers)\n",  # rewritten
        "X = 1",  # no final newline
    ],
)
def test_the_charlm_edit_changes_the_code_and_is_undone(build_bench, tmp_path, source):
    path = tmp_path / "report.py"
    path.write_text(source)
    before = code_digest([path], tmp_path)
    with pytest.raises(RuntimeError), build_bench.appended(path, build_bench.CODE_EDIT):
        assert code_digest([path], tmp_path) != before  # a change the fingerprints see
        raise RuntimeError("a build failed")  # the edit is undone all the same
    assert path.read_text() == source


def test_the_report_gives_the_clean_build_over_its_longest_run(build_bench, capsys):
    longest = {"page": "book/05_wavenet", "what": "WaveNet", "done": 200_000, "total": 200_000,
               "seconds": 400.0}  # fmt: skip
    report = {
        "plain_loop_ms_per_step": {"runs": [0.3], "median": 0.3},
        "scale": 1.0,
        "clean_seconds": 600.0,
        "longest_run": longest,
        "clean_over_longest_run": 1.5,
        "chapters_seconds": {"book/05_wavenet": 450.0, "book/07_beyond": 300.0},
        "chapters_cpu_seconds": {"book/05_wavenet": 500.0, "book/07_beyond": 400.0},
        "warm_seconds": {"runs": [9.0], "min": 9.0, "median": 9.0},
        "prose_edit_seconds": {"runs": [20.0], "min": 20.0, "median": 20.0},
        "charlm_edit_seconds": {"edit": 50.0, "edit_undone": 10.0},
        "charlm_edit_reexecuted": [{}, {}],
        "timings": {
            "count": 2,
            "seconds": 5.0,
            "others_cpu": 0.06,
            "worst": {"seconds": 1.0, "others_cpu": 0.05},
        },  # fmt: skip
    }
    build_bench.print_report(report)
    printed = capsys.readouterr().out
    assert "clean build / its longest training run = 600.0 s / 400.0 s = 1.50" in printed
    assert "WaveNet, 200,000 steps, book/05_wavenet" in printed
    assert "900.0 s CPU = 1.50 cores busy" in printed
    assert "machine to itself: 2, 5.0 s in all" in printed and "at most 5.0% of a core" in printed
