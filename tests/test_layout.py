"""The package's shape and the chapters' hygiene, checked by reading the sources."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "charlm"
CHAPTERS = sorted((ROOT / "book").glob("*.md"))

# each module may import only modules listed before it (STYLE.md: imports point one way)
ORDER = [
    "digest",
    "cores",
    "lectures",
    "fetch",
    "vocab",
    "data",
    "bigram",
    "layers",
    "models",
    "train",
    "runs",
    "stats",
    "backprop",
    "sample",
    "plots",
    "report",
    "results",
]


def charlm_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("charlm"):
            parts = node.module.split(".")
            found |= {parts[1]} if len(parts) > 1 else {a.name for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("charlm.")}
    return found


def test_every_module_is_placed_in_the_order():
    modules = {p.stem for p in PACKAGE.glob("*.py")} - {"__init__"}
    assert modules == set(ORDER)


@pytest.mark.parametrize("module", ORDER)
def test_imports_point_one_way(module):
    allowed = set(ORDER[: ORDER.index(module)])
    assert charlm_imports(PACKAGE / f"{module}.py") <= allowed


def test_plots_compute_nothing_and_nothing_else_draws():
    for module in ORDER:
        text = (PACKAGE / f"{module}.py").read_text()
        assert ("matplotlib" in text) == (module == "plots"), module
    assert not charlm_imports(PACKAGE / "plots.py") and not charlm_imports(PACKAGE / "report.py")


def code_cells(chapter: Path) -> list[str]:
    return re.findall(r"```\{code-cell\}[^\n]*\n(.*?)```", chapter.read_text(), re.S)


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.name)
def test_chapters_define_no_functions_or_classes(chapter):
    for cell in code_cells(chapter):
        tree = ast.parse("\n".join(line for line in cell.splitlines() if not line.startswith(":")))
        defs = [n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))]
        assert not defs, f"{chapter.name} defines {defs}: library code belongs in charlm"


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.name)
def test_literalincludes_name_real_objects(chapter):
    text = chapter.read_text()
    for path, obj in re.findall(r"```\{literalinclude\} (\S+)\n:pyobject: (\S+)", text):
        tree = ast.parse((chapter.parent / path).read_text())
        names = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
        for cls in (n for n in tree.body if isinstance(n, ast.ClassDef)):
            names |= {f"{cls.name}.{m.name}" for m in cls.body if isinstance(m, ast.FunctionDef)}
        assert obj in names, f"{chapter.name}: {path} has no {obj}"


def test_dataset_is_not_committed():
    ignored = (ROOT / ".gitignore").read_text().splitlines()
    assert "data/names.txt" in ignored


def test_chapter_6_asks_for_exactly_chapter_5s_run():
    """Chapter 6 reuses Chapter 5's 200,000-step run from the run cache; a drift between the
    two definitions would silently train it a second time."""
    pattern = re.compile(r"^(headline_config = .*|full = .*|headline_run = Run\([^)]*\)\))", re.M)
    five, six = ((ROOT / "book" / f).read_text() for f in ("05_wavenet.md", "06_fast.md"))
    assert pattern.findall(five) == pattern.findall(six) != []
