"""No number is typed into the chapters' prose: each comes from the build or the code beside it
(tools/typed_numbers.py)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("typed_numbers", ROOT / "tools" / "typed_numbers.py")
typed = importlib.util.module_from_spec(spec)
sys.modules["typed_numbers"] = typed  # its dataclasses look their module up
spec.loader.exec_module(typed)

CHAPTERS = sorted((ROOT / "book").glob("0*.md"))


def numbers(text: str, page: str = "test") -> list[str]:
    return [f.number for f in typed.typed_numbers(page, text)]


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_no_chapter_types_a_number_into_its_prose(chapter):
    found = typed.typed_numbers(chapter.stem, chapter.read_text())
    assert not found, "\n".join(map(str, found))


@pytest.mark.parametrize(
    ("chapter", "glued", "typed_back", "expected"),
    [
        ("01_bigram", "{glue:text}`float32_gap`", "1/16", "16"),
        ("01_bigram", "{glue:text}`running_sum:,.0f`", "−560,000", "−560,000"),
        ("02_mlp", "{glue:text}`context_rows:,`", "19,683", "19,683"),
        ("04_backprop", "{glue:text}`orders_64:.0f` orders", "nine orders", "nine orders of"),
        ("04_backprop", "{glue:text}`context_positions`", "96", "96"),
    ],
)
def test_a_number_typed_back_by_hand_is_found(chapter, glued, typed_back, expected):
    text = (ROOT / "book" / f"{chapter}.md").read_text()
    assert glued in text
    found = numbers(text.replace(glued, typed_back, 1), chapter)
    assert any(n.startswith(expected) for n in found), found


CELL = "```{{code-cell}} ipython3\n{tags}x = TrainConfig(steps=200_000, lr=0.1)\n```\n"


def test_an_input_in_the_visible_code_beside_it_is_not_a_typed_number():
    page = CELL.format(tags="") + "\nWe train for 200,000 steps at a rate of 0.1.\n"
    assert numbers(page) == []


def test_an_input_only_in_a_hidden_cell_is_a_typed_number():
    page = CELL.format(tags=":tags: [remove-cell]\n\n") + "\nWe train for 200,000 steps.\n"
    assert numbers(page) == ["200,000"]


def test_an_input_in_another_section_is_not_beside_it():
    far = CELL.format(tags="") + "\nSome prose.\n\n" + "```{code-cell} ipython3\ny = 2\n```\n"
    page = far + "\n## Later\n\nText.\n\n```{code-cell} ipython3\nz = 3\n```\n\n200,000 steps.\n"
    assert numbers(page) == ["200,000"]


def test_glue_math_inline_code_and_options_are_not_prose():
    page = (
        "---\nkernelspec: 3\n---\n\n# 3. A title\n\n"
        "We saw {glue:text}`loss:.4f` and $e^{2.5}$ and `x[:, 3]` in Chapter 4, in 2022.\n\n"
        "```{glue:figure} fig\n:alt: a line over 200 thousand steps\n\nThe caption, 7.5.\n```\n"
    )
    assert numbers(page) == ["7.5"]  # the caption is prose; the alt option is not scanned


def test_a_percentage_matches_its_fraction_in_code():
    page = "```{code-cell} ipython3\nn = int(0.8 * len(words))\n```\n\nThe first 80% train.\n"
    assert numbers(page) == []
    assert numbers(page.replace("80%", "90%")) == ["90%"]


def test_a_result_spelled_out_is_found():
    assert numbers("The step takes four times as long.\n") == ["four times"]
