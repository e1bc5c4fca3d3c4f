"""A small Jupyter Book built with the real settings, for the tests that build one.

The book has an intro page and one chapter importing ``tinypkg``, a package in the book's
folder that plays the part of ``charlm``. Its ``_config.yml`` takes the ``execute`` and
``sphinx`` settings of the real one and loads the execution extension from ``book/_ext``.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
JUPYTER_BOOK = Path(sys.executable).parent / "jupyter-book"
EXTENSIONS = ROOT / "book" / "_ext"

FRONT_MATTER = """\
---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  display_name: Python 3
  language: python
  name: python3
{extra}
---
"""

CHAPTER = (
    FRONT_MATTER.format(extra="")
    + """
# A chapter

{prose}

```{{code-cell}} ipython3
import tinypkg

with open("runs.log", "a") as log:  # one line per execution
    log.write("run\\n")
print("value:", tinypkg.VALUE)
```
"""
)


def config() -> dict:
    """The real ``_config.yml`` cut down to what a book of ``tinypkg`` chapters needs."""
    real = yaml.safe_load((ROOT / "_config.yml").read_text())
    sphinx = real["sphinx"]
    sphinx["local_extensions"] = {"execution": str(EXTENSIONS)}
    sphinx["config"]["fingerprint_package"] = "tinypkg"
    sphinx["config"]["fingerprint_paths"] = []
    # it cites nothing, so sphinxcontrib-bibtex is not loaded and its settings are unknown
    sphinx["config"] = {k: v for k, v in sphinx["config"].items() if "bibtex" not in k}
    # the freshness extension (not loaded here; tests that want it add it) owns this one
    sphinx["config"].pop("execution_status_page", None)
    return {
        "title": "test book",
        "only_build_toc_files": True,
        "execute": real["execute"],
        "sphinx": sphinx,
    }


class Book:
    """A small book in ``root``: an intro and ``chapter.md``, plus any pages added."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "_config.yml").write_text(yaml.safe_dump(config()))
        self.set_toc(["chapter"])
        (root / "intro.md").write_text("# Intro\n\nA test book.\n")
        (root / "tinypkg").mkdir()
        self.set_prose("First prose.")
        self.set_package('VALUE = "alpha"')

    def set_toc(self, chapters: list[str]) -> None:
        toc = "format: jb-book\nroot: intro\nchapters:\n"
        (self.root / "_toc.yml").write_text(toc + "".join(f"- file: {c}\n" for c in chapters))

    def set_prose(self, prose: str) -> None:
        (self.root / "chapter.md").write_text(CHAPTER.format(prose=prose))

    def set_package(self, source: str) -> None:
        (self.root / "tinypkg" / "__init__.py").write_text(textwrap.dedent(source) + "\n")

    def command(self) -> list[str]:
        """The build command, as ``make book`` runs it."""
        return [str(JUPYTER_BOOK), "build", str(self.root), "--warningiserror", "--keep-going"]

    def build(self) -> subprocess.CompletedProcess:
        return subprocess.run(self.command(), capture_output=True, text=True, timeout=300)

    @property
    def runs(self) -> int:
        log = self.root / "runs.log"
        return len(log.read_text().splitlines()) if log.exists() else 0

    @property
    def html(self) -> str:
        return (self.root / "_build" / "html" / "chapter.html").read_text()


def ok(result: subprocess.CompletedProcess) -> bool:
    """Whether a build passed; its log's tail is printed when it did not."""
    if result.returncode != 0:
        print(result.stdout[-3000:], result.stderr[-3000:])
    return result.returncode == 0
