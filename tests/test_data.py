from __future__ import annotations

import random

import pytest
import torch

from charlm.bigram import CountingNgram
from charlm.data import (
    build_dataset,
    context_floor,
    load_names,
    load_words,
    makemore_split,
    split_words,
)
from charlm.fetch import DataError


def test_contexts_slide_over_the_word(tiny_vocab):
    X, Y = build_dataset(["ava"], tiny_vocab, block_size=3)
    a, v = tiny_vocab.stoi["a"], tiny_vocab.stoi["v"]
    assert X.tolist() == [[0, 0, 0], [0, 0, a], [0, a, v], [a, v, a]]
    assert Y.tolist() == [a, v, a, 0]
    assert X.dtype == Y.dtype == torch.long


@pytest.mark.parametrize("block_size", [1, 2, 3, 8])
def test_one_example_per_character_plus_end(tiny_words, tiny_vocab, block_size):
    X, Y = build_dataset(tiny_words, tiny_vocab, block_size)
    n = sum(len(w) + 1 for w in tiny_words)
    assert X.shape == (n, block_size) and Y.shape == (n,)


def test_bad_block_size(tiny_words, tiny_vocab):
    with pytest.raises(ValueError, match="block_size"):
        build_dataset(tiny_words, tiny_vocab, 0)


@pytest.mark.parametrize("n", [10, 101, 12_345])
def test_makemore_split_holds_out_makemore_s_test_words(n):
    words = [f"w{i}" for i in range(n)]
    with torch.random.fork_rng():  # makemore.py's own steps, on torch's global generator
        torch.manual_seed(3407)
        test_set_size = min(1000, int(len(words) * 0.1))
        rp = torch.randperm(len(words)).tolist()
        train_words = [words[i] for i in rp[:-test_set_size]]
        test_words = [words[i] for i in rp[-test_set_size:]]
    s = makemore_split(words)
    assert s.test == test_words
    assert s.train + s.dev == train_words  # dev: the last of its training words
    assert len(s.dev) == len(s.test) == (1 if n == 10 else 10 if n == 101 else 1000)
    assert makemore_split(words, seed=1).test != test_words


def test_makemore_split_needs_ten_words():
    with pytest.raises(ValueError, match="at least 10 words"):
        makemore_split([f"w{i}" for i in range(9)])


def test_split_matches_the_lectures_global_shuffle(tiny_words):
    words = [f"w{i}" for i in range(101)]
    expected = list(words)
    random.seed(42)
    random.shuffle(expected)
    s = split_words(words)
    assert s.train + s.dev + s.test == expected
    assert (len(s.train), len(s.dev), len(s.test)) == (80, 10, 11)
    assert words == [f"w{i}" for i in range(101)]  # input untouched


def test_load_words_strips_and_drops_blank_lines(tmp_path):
    p = tmp_path / "w.txt"
    p.write_text("emma\n\n ava \n")
    assert load_words(p) == ["emma", "ava"]


def test_load_names_rejects_a_modified_copy(tmp_path):
    p = tmp_path / "names.txt"
    p.write_text("emma\nava")
    with pytest.raises(DataError, match="not the verified names.txt"):
        load_names(p)
    with pytest.raises(DataError, match="make data"):
        load_names(tmp_path / "missing.txt")


# --- the full dataset ---------------------------------------------------------------


def test_full_dataset_size(names):
    assert len(names) == 32_033


@pytest.mark.parametrize("block_size", [3, 8])
def test_lecture_split_sizes(names, vocab, block_size):
    s = split_words(names)
    sizes = [len(build_dataset(part, vocab, block_size)[1]) for part in (s.train, s.dev, s.test)]
    assert sizes == [182_625, 22_655, 22_866]


def test_all_bigrams(names, vocab):
    X, Y = build_dataset(names, vocab, block_size=1)
    assert len(Y) == 228_146


def test_a_dataset_without_repeated_contexts_has_floor_zero(tiny_vocab):
    X, Y = build_dataset(["ava"], tiny_vocab, block_size=3)  # four different contexts
    floor = context_floor(X, Y)
    assert (floor.contexts, floor.ambiguous, floor.examples_ambiguous) == (4, 0, 0)
    assert floor.nll == 0


def test_the_floor_is_what_unsmoothed_counts_reach(tiny_words, tiny_vocab):
    """Counting without smoothing predicts each context's observed frequencies exactly."""
    X, Y = build_dataset(tiny_words, tiny_vocab, block_size=2)
    counted = CountingNgram(len(tiny_vocab), block_size=2, smoothing=0.0).fit(X, Y)
    with torch.no_grad():
        counted_nll = torch.nn.functional.cross_entropy(counted(X), Y).item()
    floor = context_floor(X, Y)
    assert floor.nll == pytest.approx(counted_nll, abs=1e-5)
    assert 0 < floor.ambiguous < floor.contexts and floor.examples_ambiguous > floor.ambiguous
