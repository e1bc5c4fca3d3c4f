"""The build plugs into charlm from outside: in its kernels only, and through one seam."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from charlm.bookbuild import BUILD_PID_ENV, CORES_ENV, RUN_CACHE_ENV, STARTUP, kernel_environment

ROOT = Path(__file__).resolve().parent.parent
EXTENSIONS = ROOT / "book" / "_ext"

PROBE = (
    "import charlm.runs, charlm.timing, charlm.train; "
    "print(charlm.train.watch.__name__, hasattr(charlm.runs.fit, 'cached'), "
    "hasattr(charlm.runs.fit_all, '__wrapped__'), charlm.timing.quiet.__name__)"
)


def probe(env: dict[str, str]) -> str:
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True,
                         check=True, cwd=ROOT)  # fmt: skip
    return out.stdout.strip()


def test_the_kernel_environment_puts_the_startup_folder_first():
    env = kernel_environment({"PYTHONPATH": os.pathsep.join(["/a", str(STARTUP), "/b"])})
    assert env["PYTHONPATH"].split(os.pathsep) == [str(STARTUP), "/a", "/b"]
    assert kernel_environment({})["PYTHONPATH"] == str(STARTUP)


def test_a_kernel_of_the_build_is_plugged_in_and_any_other_python_is_not(tmp_path):
    """What each chapter's kernel, and each worker process it starts, sees."""
    build = {
        **os.environ,
        CORES_ENV: str(tmp_path / "cores"),
        RUN_CACHE_ENV: str(tmp_path / "runs"),
        BUILD_PID_ENV: str(os.getpid()),
    }
    assert probe(kernel_environment(build)) == "training_loop True True machine_to_itself"
    assert probe(build) == "_nothing False False _nothing"  # the variables alone plug in nothing
    plain = {
        k: v for k, v in os.environ.items() if not k.startswith("CHARLM_") or k == "CHARLM_NAMES"
    }
    assert probe(kernel_environment(plain)) == "_nothing False False _nothing"  # elsewhere


@pytest.mark.parametrize("chapter", sorted((ROOT / "book").glob("*.md")), ids=lambda p: p.stem)
def test_editing_the_progress_reports_re_executes_no_chapter(chapter):
    """A chapter re-executes when a file of its fingerprint changes: progress.py is in none."""
    sys.path.insert(0, str(EXTENSIONS))
    try:
        import execution
    finally:
        sys.path.remove(str(EXTENSIONS))
    files = execution.imported_files(chapter.read_text(), ROOT / "charlm")
    assert ROOT / "charlm" / "bookbuild" / "progress.py" not in files
    assert ROOT / "charlm" / "bookbuild" / "seam.py" not in files
