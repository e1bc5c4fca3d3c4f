"""The book's headline runs and recipes live in one place, and the command trains with them."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from charlm import cli, recipes

ROOT = Path(__file__).resolve().parent.parent
BOOK = ROOT / "book"

# each model of the command, and the book's model and recipe it must train by default
BOOKS_CHOICE = {
    "mlp": (recipes.BATCHNORM_MLP, recipes.FAST),
    "wavenet": (recipes.FAST_WAVENET, recipes.FAST),
    "rnn": (recipes.RNN, recipes.SEQUENCE),
    "gru": (recipes.GRU, recipes.SEQUENCE),
    "transformer": (recipes.TRANSFORMER, recipes.SEQUENCE_TRANSFORMER),
}


@pytest.mark.parametrize("kind", sorted(BOOKS_CHOICE))
def test_the_commands_default_is_the_books(kind):
    model, recipe = BOOKS_CHOICE[kind]
    assert cli.MODELS[kind](27, True) == replace(model, vocab_size=27)
    assert cli.recipe_for(kind, "fast") == recipe


def test_the_commands_lecture_recipe_is_the_books():
    assert cli.RECIPES["lecture"] == recipes.LECTURE
    assert cli.MODELS["wavenet"](27, False) == replace(recipes.WAVENET, vocab_size=27)


@pytest.mark.parametrize(
    "page, names",
    [
        ("05_wavenet.md", ["WAVENET_RUN", "WAVENET", "LECTURE"]),
        ("06_fast.md", ["WAVENET_RUN", "FAST_RUN", "FAST", "LECTURE"]),
        (
            "07_beyond.md",
            ["WAVENET_RUN", "SEQUENCE", "SEQUENCE_TRANSFORMER", "RNN", "GRU", "TRANSFORMER"],
        ),
    ],
)
def test_the_chapters_take_the_shared_runs_from_charlm(page, names):
    """Chapters 6 and 7 reuse Chapter 5's run from the run cache: a second definition that
    drifted would silently train it again, and the command would no longer be the book's."""
    text = (BOOK / page).read_text()
    for name in names:
        assert f"recipes.{name}" in text, f"{page} does not use recipes.{name}"
    # no chapter spells a shared recipe out again (a comment may say what it holds)
    code = re.sub(r"#.*", "", text)
    assert not re.search(r"(TrainConfig|AdamWConfig)\(steps=(200_000|4000|1200|1000)\b", code)
    assert not re.search(r"WaveNetConfig\(n_embd=24, n_hidden=128", code)
