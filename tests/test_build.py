"""The book build's two cache traps, shown on a small book built with the real settings.

(a) jupyter-cache keys a notebook on its cells only: editing the package a chapter imports
    must re-execute it, while editing prose must not.
(b) an incremental build must not republish a cached failure: a chapter that errors fails
    every build until it is fixed.

Also: chapters execute side by side, each page says when it last executed, and the
published site's extras (OpenGraph, sitemap, 404) come with its URL only.

Each build runs `jupyter-book build --warningiserror --keep-going` as `make book` does, with
the `execute` and `sphinx` settings of the real `_config.yml`.
"""

from __future__ import annotations

import json
import os
import re
import subprocess

import pytest
import yaml
from _book import EXTENSIONS, FRONT_MATTER, Book, ok

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
    first = book.build()
    assert ok(first)
    pages = json.loads((tmp_path / "_build" / "execution.json").read_text())["pages"]
    a, b, c = pages["a"], pages["b"], pages["c"]
    assert a["start"] < b["end"] and b["start"] < a["end"]  # a and b ran at the same time
    assert c["start"] >= a["end"]  # c waited for a
    assert "[execution] a executed in" in first.stdout  # a line per page, outside a terminal
    assert "without encryption" not in first.stdout + first.stderr  # kernels are not on TCP
    assert "running cells" not in first.stdout  # and no progress lines drawn
    log = book.build()  # nothing changed: nothing executes
    assert ok(log) and "[execution]" not in log.stdout


TRAINER = (
    FRONT_MATTER
    + """
# A page that begins to train after a while

```{{code-cell}} ipython3
import time
from charlm.bookbuild.progress import reporter

time.sleep(3)
loop = reporter("Tiny", 2)  # what a training loop reports while the book builds
loop.update()
time.sleep(3)
loop.update()
loop.close()
```
"""
)


def test_a_page_executed_first_trains_before_the_others_start(tmp_path):
    book = Book(tmp_path)
    (tmp_path / "a.md").write_text(TRAINER.format(extra="execute_first: true"))
    (tmp_path / "b.md").write_text(SLEEPER.format(name="b", extra=""))
    book.set_toc(["chapter", "a", "b"])
    assert ok(book.build())
    pages = json.loads((tmp_path / "_build" / "execution.json").read_text())["pages"]
    a, b = pages["a"], pages["b"]
    assert b["start"] >= a["start"] + 3  # b waited for a's loop to begin
    assert b["start"] < a["end"]  # and no longer


BURNER = (
    FRONT_MATTER.format(extra="")
    + """
# A page that works in a process of its own

```{code-cell} ipython3
import multiprocessing
import time

def burn(seconds):  # CPU time, not wall time
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass

if __name__ == "__main__":
    worker = multiprocessing.get_context("fork").Process(target=burn, args=(3.0,))
    worker.start()
    worker.join()
    burn(0.5)
```
"""
)


def test_a_pages_cpu_time_counts_its_kernel_and_the_processes_it_starts(tmp_path):
    book = Book(tmp_path)
    (tmp_path / "burner.md").write_text(BURNER)
    book.set_toc(["chapter", "burner"])
    assert ok(book.build())
    pages = json.loads((tmp_path / "_build" / "execution.json").read_text())["pages"]
    # a kernel's start costs a few CPU seconds, give or take most of one (two pages start side
    # by side); beyond that, 3.0 s in its worker and 0.5 s itself: far more than that noise
    burner, chapter = pages["burner"]["cpu_seconds"], pages["chapter"]["cpu_seconds"]
    assert burner - chapter >= 2.8, (burner, chapter)


def with_extensions(book: Book, **config) -> None:
    """Load the book's freshness and publishing extensions too, with these settings."""
    path = book.root / "_config.yml"
    data = yaml.safe_load(path.read_text())
    data["sphinx"]["local_extensions"].update(freshness=str(EXTENSIONS), publishing=str(EXTENSIONS))
    data["sphinx"]["config"].update(config)
    path.write_text(yaml.safe_dump(data))


def test_executed_pages_say_when_they_ran_and_one_page_lists_them(tmp_path):
    book = Book(tmp_path)
    with_extensions(book, execution_status_page="status")
    (tmp_path / "status.md").write_text("# Status\n\n```{execution-status}\n```\n")
    book.set_toc(["chapter", "status"])
    assert ok(book.build())
    chapter = book.html
    assert re.search(r"Executed on \d{4}-\d\d-\d\d \d\d:\d\d UTC, in \d+ s", chapter)
    assert 'href="status.html"' in chapter
    status = (tmp_path / "_build" / "html" / "status.html").read_text()
    assert 'href="chapter.html"' in status and "executed in this build" in status
    assert not (tmp_path / "_build" / "html" / "sitemap.xml").exists()  # no site URL given
    assert ok(book.build())  # nothing changed: the status page is read again, not the chapter
    status = (tmp_path / "_build" / "html" / "status.html").read_text()
    assert "from the cache" in status and "executed in this build" not in status


def test_the_site_url_brings_opengraph_tags_a_sitemap_and_a_404_page(tmp_path):
    book = Book(tmp_path)
    with_extensions(book)
    url = "https://example.org/charlm/"
    env = {**os.environ, "CHARLM_SITE_URL": url}
    log = subprocess.run(book.command(), capture_output=True, text=True, timeout=300, env=env)
    assert ok(log)
    html = tmp_path / "_build" / "html"
    assert f'<meta property="og:url" content="{url}chapter.html"' in book.html
    assert f"<loc>{url}chapter.html</loc>" in (html / "sitemap.xml").read_text()
    missing = (html / "404.html").read_text()
    assert "Page not found" in missing and 'href="/charlm/_static/' in missing
    env["CHARLM_SITE_URL"] = "example.org"  # not a URL: a clear error
    log = subprocess.run(book.command(), capture_output=True, text=True, timeout=300, env=env)
    assert log.returncode != 0
    assert "CHARLM_SITE_URL must be an http(s) URL" in log.stdout + log.stderr


def _cached_notebook(cache):
    (notebook,) = cache.glob("executed/*/base.ipynb")
    return notebook


DAMAGES = {  # what happens to a cache, and the file the build must name
    "truncated-notebook": lambda cache: _cached_notebook(cache).write_bytes(
        _cached_notebook(cache).read_bytes()[:300]
    ),
    "missing-notebook": lambda cache: _cached_notebook(cache).unlink(),
    "garbage-database": lambda cache: (cache / "global.db").write_bytes(b"not sqlite " * 200),
}


@pytest.mark.parametrize("edit", [True, False], ids=["after-an-edit", "unchanged"])
@pytest.mark.parametrize("damage", list(DAMAGES))
def test_a_damaged_execution_cache_heals_itself(tmp_path, damage, edit):
    """A cache damaged between two builds: the next build says what it set aside in one
    line, executes the page again and succeeds; the build after it uses the cache again."""
    book = Book(tmp_path)
    assert ok(book.build()) and book.runs == 1
    cache = tmp_path / "_build" / ".jupyter_cache"
    named = str(_cached_notebook(cache)) if "notebook" in damage else str(cache / "global.db")
    DAMAGES[damage](cache)
    if edit:
        book.set_prose("Prose edited after the damage.")
    result = book.build()
    assert ok(result) and book.runs == 2  # executed again, and the site is whole
    said = [line for line in result.stdout.splitlines() if "[execution] warning:" in line]
    assert len(said) == 1 and named in said[0] and "executes again" in said[0], said
    assert "value: alpha" in book.html
    assert ("Prose edited after the damage." in book.html) == edit
    healed = book.build()
    assert ok(healed) and book.runs == 2 and "[execution] warning" not in healed.stdout
