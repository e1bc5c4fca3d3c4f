"""Fingerprints of source code that ignore what cannot change a result (the book's build).

Two caches use them: the book's execution cache (``book/_ext/execution.py``: a chapter
runs again when a module it imports changes) and the run cache (``runcache``: a model
trains again when its code changes); the package's layout test reads imports with the
same parser. A module's fingerprint is its syntax tree without docstrings, so editing a
comment, a docstring or the layout of a line reuses the cache, while any change to what
the code does invalidates it. Standard library only.
"""

from __future__ import annotations

import ast
import hashlib
from collections.abc import Iterable
from pathlib import Path


def imported_submodules(source: str | ast.AST, package: str) -> set[str]:
    """Modules of ``package`` that ``source`` imports, named from inside it.

    ``import charlm.models`` and ``from charlm.models import MLP`` give ``"models"``;
    ``from charlm.bookbuild.cores import cores`` gives ``"bookbuild.cores"``; ``from charlm
    import runs`` gives ``"runs"`` and ``"__init__"`` (the package itself, which runs first),
    and so does any ``from X import name``: ``name`` may be a module of X or a name defined
    in it, so both are returned (``module_closure`` keeps those that are files). Relative
    imports are not read: charlm writes every import in full.
    """
    tree = ast.parse(source) if isinstance(source, str) else source
    found: set[str] = set()

    def inside(name: str) -> str | None:
        parts = name.split(".")
        if parts[0] != package:
            return None
        return ".".join(parts[1:]) or "__init__"

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {m for alias in node.names if (m := inside(alias.name))}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            module = inside(node.module)
            if module is None:
                continue
            found.add(module)
            prefix = "" if module == "__init__" else module + "."
            found |= {prefix + alias.name for alias in node.names if alias.name != "*"}
    return found


def module_file(package_dir: Path, name: str) -> Path | None:
    """The file of module ``name`` of the package (``"models"``, ``"bookbuild.cores"``,
    ``"bookbuild"``: its ``__init__.py``), or None when ``name`` is not a module of it."""
    base = package_dir.joinpath(*name.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def module_closure(package_dir: Path, roots: Iterable[str]) -> list[Path]:
    """The files of ``roots`` and of every package module they import, transitively.

    A submodule of a subpackage brings the subpackage's ``__init__.py`` along (importing
    it runs that too); ``charlm/__init__.py`` itself counts only where it is imported by
    name (it holds the docstring and the version).
    """
    package = package_dir.name
    todo, seen = list(roots), {}
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        path = module_file(package_dir, name)
        seen[name] = path
        if path is None:
            continue  # a name imported from the package that is not a module of it
        todo += imported_submodules(path.read_text(), package)
        if "." in name:
            todo.append(name.rpartition(".")[0])
    return sorted(path for path in seen.values() if path is not None)


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
