"""A reader who copies a page's visible code cells, in order, gets code that runs.

Hidden cells (tagged ``remove-cell`` or ``remove-input``: their code is not on the page)
only publish: glue, displayed tables, records. So no name a hidden cell binds may be read
by a visible cell unless an earlier visible cell binds it too. Checked statically, on the
pages' text: a name is *bound* by an assignment, an import, a ``def`` or ``class``, a loop
or ``with`` target or an argument, and *read* wherever it is loaded.
"""

from __future__ import annotations

import ast
import builtins
import re
from pathlib import Path

import pytest

BOOK = Path(__file__).resolve().parent.parent / "book"
CELL = re.compile(r"^```\{code-cell\}[^\n]*\n(.*?)^```", re.S | re.M)
HIDDEN = {"remove-cell", "remove-input"}  # tags whose cell's code is not on the page


def code_cells(text: str) -> list[tuple[int, set[str], str]]:
    """(line, tags, code) of each code cell of a MyST page."""
    found = []
    for match in CELL.finditer(text):
        tags: set[str] = set()
        code = []
        for line in match.group(1).splitlines():
            if line.startswith(":tags:"):
                tags = {t.strip() for t in line.partition("[")[2].rstrip("]").split(",")}
            elif not line.startswith(":"):
                code.append(line)
        found.append((text[: match.start()].count("\n") + 1, tags, "\n".join(code)))
    return found


def bound(tree: ast.AST) -> set[str]:
    """The names a cell binds."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(alias.asname or alias.name).split(".")[0] for alias in node.names}
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
    return names


def read(tree: ast.AST) -> set[str]:
    """The names a cell reads."""
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def names_from_hidden_cells(text: str) -> list[str]:
    """Each visible cell's read of a name that only a hidden cell bound: ``line: name``."""
    visible, hidden = set(dir(builtins)), {}
    found = []
    for line, tags, code in code_cells(text):
        tree = ast.parse(code)
        if tags & HIDDEN:
            for name in bound(tree):
                hidden.setdefault(name, line)
        else:
            for name in sorted(read(tree) - bound(tree) - visible):
                if name in hidden:
                    found.append(f"line {line}: {name} (bound by the hidden cell of line "
                                 f"{hidden[name]})")  # fmt: skip
            visible |= bound(tree)
    return found


PAGES = sorted(p for p in BOOK.glob("*.md") if CELL.search(p.read_text(encoding="utf-8")))


@pytest.mark.parametrize("page", PAGES, ids=[p.stem for p in PAGES])
def test_visible_cells_run_as_copied(page: Path) -> None:
    assert names_from_hidden_cells(page.read_text(encoding="utf-8")) == []


def test_the_check_finds_a_name_from_a_hidden_cell() -> None:
    page = (
        "```{code-cell} ipython3\n:tags: [remove-cell]\n\nfrom x import helper\nseen = 1\n```\n"
        "```{code-cell} ipython3\nseen = 2\n```\n"
        "```{code-cell} ipython3\n:tags: [hide-input]\n\nprint(helper(seen))\n```\n"
    )
    assert names_from_hidden_cells(page) == ["line 10: helper (bound by the hidden cell of line 1)"]


def test_the_readmes_example_runs_as_copied(names, tmp_path) -> None:
    """The README's Python example, pasted into a fresh Python in the repository."""
    import subprocess
    import sys

    readme = (BOOK.parent / "README.md").read_text(encoding="utf-8")
    (code,) = re.findall(r"```python\n(.*?)```", readme, re.S)
    script = tmp_path / "example.py"
    script.write_text(code)
    out = subprocess.run([sys.executable, str(script)], cwd=BOOK.parent, capture_output=True,
                         text=True, timeout=300)  # fmt: skip
    assert out.returncode == 0, out.stderr
    printed = r"dev loss \d\.\d{3} after 5,000 steps\n\[('[a-z]+', ){4}'[a-z]+'\]\n"
    assert re.match(printed, out.stdout)
