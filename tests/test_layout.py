"""The package's shape and the chapters' hygiene, checked by reading the sources."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from charlm.bookbuild.digest import imported_submodules

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "charlm"
CHAPTERS = sorted((ROOT / "book").glob("*.md"))

# The one map of charlm: each module and the charlm modules it may import. Imports point one
# way (STYLE.md); ``bookbuild`` is the build machinery, a subpackage that plugs into ``train``
# and ``runs`` from outside and that no teaching module imports. The docstrings of
# charlm/__init__.py (the teaching modules) and charlm/bookbuild/__init__.py (its line), and
# the README's layout, draw this same map (checked below).
IMPORTS: dict[str, set[str]] = {
    "fetch": set(),
    "vocab": set(),
    "lectures": set(),
    "data": {"fetch", "vocab"},
    "bigram": {"vocab"},
    "layers": set(),
    "kernels": {"layers"},
    "models": {"layers", "kernels"},
    "sequence": set(),
    "recurrent": {"layers", "sequence"},
    "transformer": {"layers", "sequence"},
    "ensemble": {"recurrent", "sequence", "transformer"},
    "train": {"sequence"},
    "optim": {"sequence", "train"},
    "runs": {"lectures", "train", "optim"},
    "recipes": {"lectures", "models", "optim", "recurrent", "runs", "train", "transformer"},
    "stats": {"layers", "train"},
    "backprop": {"train"},
    "engine": set(),
    "torchnn": {"layers"},
    "sample": {"vocab"},
    "plots": set(),
    "report": set(),
    "timing": {"train"},
    "checkpoint": {"vocab", "data", "bigram", "models", "recurrent", "transformer", "ensemble"},
    "export": {"vocab"},
    "cli": {
        "fetch",
        "vocab",
        "data",
        "bigram",
        "sequence",
        "train",
        "optim",
        "recipes",
        "sample",
        "checkpoint",
        "ensemble",
    },
    "__main__": {"cli"},
    "bookbuild": {"train", "runs", "timing", "export", "sample", "vocab"},
}
TEACHING = [m for m in IMPORTS if m != "bookbuild"]


def node(module: str) -> str:
    """A module's place in the map: every module of the subpackage is ``bookbuild``."""
    return module.split(".")[0]


def module_files() -> dict[str, Path]:
    """Every module of charlm by dotted name (``bookbuild.cores``), the package's own
    ``__init__`` and the build's kernel start-up file left out."""
    files = {}
    for path in PACKAGE.rglob("*.py"):
        if path.parent.name == "startup":
            continue
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        if parts != ("__init__",):
            files[".".join(p for p in parts if p != "__init__")] = path
    return files


def imports_of(path: Path) -> set[str]:
    """The map's nodes that a file imports (the package itself, ``__init__``, not counted)."""
    found = imported_submodules(path.read_text(), "charlm")
    modules = {name for name in found if name == "bookbuild" or name in module_files()}
    return {node(name) for name in modules} - {"__init__"}


def forbidden(path: Path, module: str) -> set[str]:
    """What ``path`` (module ``module`` of the map) imports that the map does not allow."""
    return imports_of(path) - IMPORTS[module] - {module}


def test_every_module_is_on_the_map():
    assert {node(name) for name in module_files()} == set(IMPORTS)


@pytest.mark.parametrize("name", sorted(module_files()))
def test_imports_follow_the_map(name):
    assert not forbidden(module_files()[name], node(name))


def test_the_map_points_one_way():
    order: list[str] = []
    todo = dict(IMPORTS)
    while todo:  # peel off the modules whose imports are all placed: fails on a cycle
        ready = [m for m, deps in todo.items() if deps <= set(order)]
        assert ready, f"the map has a cycle among {sorted(todo)}"
        order += ready
        for m in ready:
            del todo[m]


def test_a_forbidden_import_fails(tmp_path):
    layers = tmp_path / "layers.py"
    layers.write_text("import torch\nfrom charlm.train import train\n")
    assert forbidden(layers, "layers") == {"train"}
    runcache = tmp_path / "runcache.py"
    runcache.write_text("from charlm.bookbuild import digest\nfrom charlm.models import MLP\n")
    assert forbidden(runcache, "bookbuild") == {"models"}


def drawn_map(text: str) -> dict[str, set[str]]:
    """The map as drawn in prose: lines ``module -> a, b`` (``-> (nothing)`` for none), a
    long list going on in the lines after it that start with a name and a comma."""
    drawn: dict[str, set[str]] = {}
    name = None
    for line in text.splitlines():
        if m := re.match(r"^\s*(\w+)\s+->\s*(.*)$", line):
            name, deps = m[1], m[2]
            drawn[name] = set()
        elif name and re.fullmatch(r"\s+\w+(,\s*\w+)*,?", line):
            deps = line
        else:
            name = None
            continue
        drawn[name] |= {d.strip() for d in deps.split(",") if d.strip() not in ("", "(nothing)")}
    return drawn


def test_the_package_docstrings_draw_the_map():
    import charlm
    import charlm.bookbuild

    assert drawn_map(charlm.__doc__) == {m: d for m, d in IMPORTS.items() if m != "bookbuild"}
    assert drawn_map(charlm.bookbuild.__doc__) == {"bookbuild": IMPORTS["bookbuild"]}


def test_the_readme_draws_the_map():
    readme = (ROOT / "README.md").read_text()
    block = readme.split("<!-- the map of charlm -->", 2)[1]
    assert drawn_map(block) == IMPORTS


def test_no_teaching_module_so_much_as_names_the_build_machinery():
    """What ``grep -rl bookbuild charlm --include=*.py`` lists: only the subpackage's files."""
    naming = sorted(
        str(path.relative_to(ROOT))
        for path in PACKAGE.rglob("*.py")
        if "bookbuild" in path.read_text() and PACKAGE / "bookbuild" not in path.parents
    )
    assert naming == []


def test_a_teaching_module_that_imports_the_build_fails(tmp_path):
    train = tmp_path / "train.py"
    train.write_text("from charlm.bookbuild.cores import cores\n")
    assert forbidden(train, "train") == {"bookbuild"}


def test_the_build_machinery_names_its_variables_once():
    """``CHARLM_CORES`` and its kin are spelled once, in charlm/bookbuild/__init__.py."""
    for path in [*PACKAGE.rglob("*.py"), *(ROOT / "book" / "_ext").glob("*.py")]:
        if path != PACKAGE / "bookbuild" / "__init__.py":
            text = path.read_text()
            for var in ("CHARLM_CORES", "CHARLM_RUN_CACHE", "CHARLM_RESULTS"):
                for quoted in (f'"{var}"', f"'{var}'"):
                    assert quoted not in text, f"{path} spells {var}"


def test_plots_compute_nothing_and_nothing_else_draws():
    for name, path in module_files().items():
        assert ("matplotlib" in path.read_text()) == (name == "plots"), name
    assert not imports_of(PACKAGE / "plots.py") and not imports_of(PACKAGE / "report.py")


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


def test_the_install_takes_every_subpackage():
    """``pip install .`` installs the packages pyproject.toml names: all of charlm's."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11 on

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    named = set(config["tool"]["setuptools"]["packages"])
    found = {".".join(init.parent.relative_to(ROOT).parts) for init in PACKAGE.rglob("__init__.py")}
    assert named == found


def test_charlm_writes_every_import_in_full():
    """Relative imports are invisible to the import parser (the map, the fingerprints)."""
    for name, path in module_files().items():
        for n in ast.walk(ast.parse(path.read_text())):
            assert not (isinstance(n, ast.ImportFrom) and n.level), f"{name}: a relative import"


@pytest.mark.parametrize("page", CHAPTERS, ids=lambda p: p.name)
def test_chapters_take_the_lectures_seeds_from_charlm(page):
    assert "2147483647" not in page.read_text(), f"{page.name} types a lecture's seed"


def test_every_lecture_fact_is_used():
    """``charlm.lectures`` keeps no constant that no chapter, module, benchmark or test reads."""
    from charlm import lectures

    users = [*(ROOT / "book").glob("*.md"), *PACKAGE.rglob("*.py"),
             *(ROOT / "bench").glob("*.py"), *(ROOT / "tests").glob("*.py")]  # fmt: skip
    text = "\n".join(p.read_text() for p in users if p.name != "lectures.py")
    for name in (n for n in vars(lectures) if n.isupper()):
        assert re.search(rf"\b{name}\b", text), f"charlm.lectures.{name} is used nowhere"
