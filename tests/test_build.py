"""The book build's two cache traps, shown on a small book built with the real settings.

(a) jupyter-cache keys a notebook on its cells only: editing the package a chapter imports
    must re-execute it, while editing prose must not.
(b) an incremental build must not republish a cached failure: a chapter that errors fails
    every build until it is fixed.

Each build runs `jupyter-book build --warningiserror --keep-going` as `make book` does, with
the `execute` and `sphinx` settings of the real `_config.yml`.
"""

from __future__ import annotations

import json

import pytest
from _book import FRONT_MATTER, Book, ok

pytestmark = pytest.mark.build


def test_package_edits_reexecute_prose_edits_do_not(tmp_path):
    book = Book(tmp_path)
    assert ok(book.build()) and book.runs == 1 and "value: alpha" in book.html

    assert ok(book.build()) and book.runs == 1  # nothing changed: nothing runs

    book.set_prose("Second prose, edited.")
    assert ok(book.build()) and book.runs == 1  # prose only: re-rendered, not re-run
    assert "Second prose, edited." in book.html

    book.set_package('VALUE = "beta"')
    assert ok(book.build()) and book.runs == 2  # the package changed: the chapter re-runs
    assert "value: beta" in book.html and "value: alpha" not in book.html


def test_a_failing_chapter_fails_every_build_until_fixed(tmp_path):
    book = Book(tmp_path)
    assert ok(book.build())

    book.set_package('raise RuntimeError("broken package")')
    for _ in range(2):  # the second build must not pass over the cached failure
        result = book.build()
        assert result.returncode != 0
        assert "broken package" in result.stdout + result.stderr

    book.set_package('VALUE = "fixed"')
    assert ok(book.build()) and "value: fixed" in book.html


def test_only_code_a_chapter_imports_counts(tmp_path):
    book = Book(tmp_path)
    book.set_package('"""The package."""\nfrom tinypkg.core import VALUE')
    (tmp_path / "tinypkg" / "core.py").write_text('VALUE = "alpha"\n')
    (tmp_path / "tinypkg" / "unused.py").write_text("X = 1\n")
    assert ok(book.build()) and book.runs == 1 and "value: alpha" in book.html

    (tmp_path / "tinypkg" / "unused.py").write_text("X = 2\n")  # not imported by the chapter
    book.set_package('"""The package, its docstring edited."""\nfrom tinypkg.core import VALUE')
    (tmp_path / "tinypkg" / "core.py").write_text('VALUE = "alpha"  # a comment\n')
    assert ok(book.build()) and book.runs == 1

    (tmp_path / "tinypkg" / "core.py").write_text('VALUE = "beta"\n')  # imported, through __init__
    assert ok(book.build()) and book.runs == 2 and "value: beta" in book.html


SLEEPER = (
    FRONT_MATTER
    + """
# Chapter {name}

```{{code-cell}} ipython3
import time
time.sleep(3)
```
"""
)


def test_chapters_execute_side_by_side_and_in_the_order_asked(tmp_path):
    book = Book(tmp_path)
    for name, after in (("a", ""), ("b", ""), ("c", "execute_after: [a]")):
        (tmp_path / f"{name}.md").write_text(SLEEPER.format(name=name, extra=after))
    book.set_toc(["chapter", "a", "b", "c"])
    assert ok(book.build())
    pages = json.loads((tmp_path / "_build" / "execution.json").read_text())["pages"]
    a, b, c = pages["a"], pages["b"], pages["c"]
    assert a["start"] < b["end"] and b["start"] < a["end"]  # a and b ran at the same time
    assert c["start"] >= a["end"]  # c waited for a
    log = book.build()  # nothing changed: nothing executes
    assert ok(log) and "[execution]" not in log.stdout
