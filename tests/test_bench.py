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
