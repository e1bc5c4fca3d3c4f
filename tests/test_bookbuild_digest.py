"""Source fingerprints: blind to docstrings, comments and layout; alert to any code change."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from charlm.bookbuild.digest import code_digest, imported_submodules, module_closure

PACKAGE = Path(__file__).resolve().parent.parent / "charlm"


def _digest(tmp_path: Path, source: str) -> str:
    path = tmp_path / "m.py"
    path.write_text(textwrap.dedent(source))
    return code_digest([path], tmp_path)


BASE = '''
    """Module docstring."""

    def f(x):
        """Function docstring."""
        return x + 1  # a comment
'''


@pytest.mark.parametrize(
    "edited",
    [
        BASE.replace("Module docstring.", "Another docstring, longer."),
        BASE.replace("Function docstring.", "Edited."),
        BASE.replace("# a comment", "# another comment"),
        BASE.replace("return x + 1", "return (x\n            + 1)"),
    ],
)
def test_docstrings_comments_and_layout_do_not_count(tmp_path, edited):
    assert _digest(tmp_path, edited) == _digest(tmp_path, BASE)


@pytest.mark.parametrize(
    "edited",
    [BASE.replace("x + 1", "x + 2"), BASE.replace("def f", "def g"), BASE + "\n    Y = 1\n"],
)
def test_any_code_change_counts(tmp_path, edited):
    assert _digest(tmp_path, edited) != _digest(tmp_path, BASE)


def test_a_function_whose_body_is_only_a_docstring_still_parses(tmp_path):
    source = 'def f():\n    """Only a docstring."""\n'
    assert _digest(tmp_path, source) != _digest(tmp_path, "def g():\n    pass\n")


def test_imported_submodules_reads_every_import_form():
    source = textwrap.dedent("""
        import charlm.models
        from charlm.train import train
        from charlm import lectures, runs
        from charlm.bookbuild.cores import cores
        import torch
        from . import relative
    """)
    found = imported_submodules(source, "charlm")
    # a name imported from a module may be a submodule of it: both are returned, and
    # module_closure keeps those that are files
    assert found == {"models", "train", "train.train", "lectures", "runs", "__init__",
                     "bookbuild.cores", "bookbuild.cores.cores"}  # fmt: skip


def test_the_closure_follows_imports_through_the_package():
    names = {p.relative_to(PACKAGE).as_posix() for p in module_closure(PACKAGE, ["runs"])}
    assert names == {
        "runs.py", "train.py", "optim.py", "sequence.py", "lectures.py", "__init__.py",
    }  # fmt: skip
    names = {
        p.relative_to(PACKAGE).as_posix() for p in module_closure(PACKAGE, ["bookbuild.cores"])
    }
    assert names == {"bookbuild/cores.py", "bookbuild/__init__.py"}
    names = {p.stem for p in module_closure(PACKAGE, ["models"])}
    assert names == {"models", "layers", "kernels"}
    assert module_closure(PACKAGE, ["no_such_module"]) == []


def test_a_subpackage_module_is_found_with_its_init():
    names = {p.relative_to(PACKAGE).as_posix() for p in module_closure(PACKAGE, ["bookbuild.seam"])}
    assert names == {
        "bookbuild/seam.py", "bookbuild/__init__.py", "bookbuild/cores.py",
        "bookbuild/progress.py", "bookbuild/runcache.py", "bookbuild/digest.py",
        "bookbuild/quiet.py", "train.py", "sequence.py", "runs.py", "optim.py", "timing.py",
        "lectures.py", "__init__.py",
    }  # fmt: skip
