"""The whole-book PDF that ``make pdf`` builds: all of it, with its computed numbers.

Skipped until ``make pdf`` has built ``_build/latex/charlm.pdf`` (``make pdf`` runs this file
itself once the PDF exists). Reads the PDF with poppler's ``pdfinfo`` and ``pdftotext``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
PDF = ROOT / "_build" / "latex" / "charlm.pdf"
SITE_PDF = ROOT / "_build" / "html" / "charlm.pdf"

pytestmark = pytest.mark.skipif(
    not PDF.is_file() or shutil.which("pdftotext") is None,
    reason=f"no {PDF.relative_to(ROOT)} (run `make pdf`) or no pdftotext",
)

# the lectures' printed numbers, which the chapters reproduce and glue into their prose:
# the BatchNorm MLP's train/val loss (Chapter 3) and the WaveNet's (Chapter 5)
LECTURE_NUMBERS = ("2.0674", "2.1057", "1.7690", "1.9937")


@pytest.fixture(scope="module")
def text() -> str:
    done = subprocess.run(["pdftotext", "-layout", str(PDF), "-"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_pdf_holds_the_whole_book() -> None:
    info = subprocess.run(["pdfinfo", str(PDF)], capture_output=True, text=True, check=True)
    pages = int(re.search(r"^Pages:\s+(\d+)", info.stdout, re.M).group(1))
    assert 100 <= pages <= 400, f"{pages} pages"


def page_titles() -> list[str]:
    """The title (first ``# `` line) of every page in the table of contents."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [c["file"] for part in toc["parts"] for c in part["chapters"]]
    titles = []
    for name in files:
        lines = (ROOT / f"{name}.md").read_text(encoding="utf-8").splitlines()
        titles.append(next(line[2:] for line in lines if line.startswith("# ")))
    return titles


def test_every_page_is_in_it(text: str) -> None:
    flat = " ".join(text.split())  # pdftotext breaks long titles over lines
    titles = page_titles()
    assert len(titles) >= 10
    for title in titles:
        assert " ".join(title.replace("`", "").split()) in flat, title


def test_glued_numbers_and_exercises_are_rendered(text: str) -> None:
    for number in LECTURE_NUMBERS:
        assert number in text, number
    assert "{glue" not in text and "[myst-nb.glue" not in text
    assert re.search(r"Exercise \d+ \(A trigram model\)", text)  # numbered, titled


def test_no_reference_was_left_unresolved(text: str) -> None:
    assert "??" not in text  # what LaTeX prints for an unresolved \\ref


def test_the_site_serves_the_same_pdf() -> None:
    if not SITE_PDF.is_file():
        pytest.skip("the site was not rebuilt after the PDF")
    assert SITE_PDF.read_bytes() == PDF.read_bytes()
