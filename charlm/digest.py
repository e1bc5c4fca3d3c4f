"""Fingerprints of source code that ignore what cannot change a result (the book's build).

Two caches use them: the book's execution cache (``book/_ext/fingerprint.py``: a chapter
runs again when a module it imports changes) and the run cache of ``charlm.runs`` (a model
trains again when its code changes). A module's fingerprint is its syntax tree without
docstrings, so editing a comment, a docstring or the layout of a line reuses the cache,
while any change to what the code does invalidates it. Standard library only.
"""

from __future__ import annotations

import ast
import hashlib
from collections.abc import Iterable
from pathlib import Path


def imported_submodules(source: str | ast.AST, package: str) -> set[str]:
    """Submodules of ``package`` that ``source`` imports, e.g. ``{"models", "train"}``.

    ``import package`` or ``from package import name`` (where ``name`` is no submodule
    file) count as ``"__init__"``: the package itself.
    """
    tree = ast.parse(source) if isinstance(source, str) else source
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == package:  # from package import a, b: submodules or names
                found |= {alias.name for alias in node.names} | {"__init__"}
                continue
            names = [node.module]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == package:
                found.add(parts[1] if len(parts) > 1 else "__init__")
    return found


def module_closure(package_dir: Path, roots: Iterable[str]) -> list[Path]:
    """The files of ``roots`` and of every package module they import, transitively."""
    package = package_dir.name
    todo, seen = list(roots), set()
    while todo:
        name = todo.pop()
        path = package_dir / f"{name}.py"
        if name in seen or not path.is_file():
            continue  # a name imported from the package that is not a module of it
        seen.add(name)
        todo += imported_submodules(path.read_text(), package)
    return sorted(package_dir / f"{name}.py" for name in seen)


def _without_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            node.body = body[1:] or [ast.Pass()]
    return tree


def code_digest(paths: Iterable[Path], root: Path | None = None) -> str:
    """sha256 over each file's name (relative to ``root``) and content.

    Python files contribute their syntax tree without docstrings (comments and layout are
    not in the tree); other files their bytes.
    """
    h = hashlib.sha256()
    for path in sorted(paths):
        name = path.relative_to(root) if root is not None else Path(path.name)
        h.update(name.as_posix().encode() + b"\0")
        if path.suffix == ".py":
            tree = _without_docstrings(ast.parse(path.read_text(), filename=str(path)))
            h.update(ast.dump(tree, include_attributes=False).encode())
        else:
            h.update(path.read_bytes())
        h.update(b"\0")
    return h.hexdigest()
