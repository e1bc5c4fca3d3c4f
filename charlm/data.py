"""Words, the lectures' train/dev/test split (and makemore's) and context-window datasets
(Chapters 1-2, 7)."""

from __future__ import annotations

import os
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from charlm.fetch import NAMES_SHA256, DataError, how_to_provide, sha256_of
from charlm.vocab import Vocab

# data/names.txt of a source checkout (where `make data` puts it)
DEFAULT_NAMES = Path(__file__).resolve().parent.parent / "data" / "names.txt"
# and the 1990 U.S. Census surnames, the word list of the page on the charlm command
SURNAMES = DEFAULT_NAMES.with_name("surnames.txt")


def load_words(path: str | os.PathLike) -> list[str]:
    """One word per non-empty line of a UTF-8 text file, whitespace stripped (Chapter 1).

    A byte-order mark at the start (as some editors save UTF-8) is not part of the first
    word. A missing file, a binary one, a UTF-16 one or one that is not UTF-8 raises
    ``DataError`` saying so.
    """
    path = Path(path)
    if path.is_dir():
        raise DataError(f"{path} is a folder, not a word list (one word per line)")
    if not path.is_file():
        raise DataError(f"no word list at {path}")
    data = path.read_bytes()
    if looks_like_utf16(data):
        raise DataError(
            f"{path} is UTF-16 text, not UTF-8: convert it first, for example with "
            f"`iconv -f UTF-16 -t UTF-8 {path} > words-utf8.txt`"
        )
    if b"\0" in data:
        raise DataError(f"{path} is a binary file, not a word list (one word per line)")
    try:
        text = data.decode("utf-8-sig")  # a leading byte-order mark is dropped
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise DataError(
            f"{path} is not UTF-8 text (line {line}, byte {error.start}): save it as UTF-8"
        ) from None
    return [w for w in (line.strip() for line in text.splitlines()) if w]


def looks_like_utf16(data: bytes) -> bool:
    """Whether ``data`` is UTF-16 text: a UTF-16 byte-order mark, or (without one) text
    whose every other byte is zero, as UTF-16 writes ASCII letters.

    >>> looks_like_utf16("emma ava".encode("utf-16")), looks_like_utf16(b"emma ava")
    (True, False)
    >>> looks_like_utf16("emma ava".encode("utf-16-le"))
    True
    """
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return True
    even, odd = data[0::2], data[1::2]
    return len(data) >= 4 and (set(odd) == {0} or set(even) == {0})


def load_names(path: str | os.PathLike = DEFAULT_NAMES) -> list[str]:
    """The 32,033 names of ``names.txt``, after checking its sha256 (Chapter 1)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path} does not exist (run `make data`).\n{how_to_provide()}")
    if sha256_of(path) != NAMES_SHA256:
        raise DataError(f"{path} is not the verified names.txt.\n{how_to_provide()}")
    return load_words(path)


@dataclass(frozen=True)
class Split:
    """Words divided into train, dev and test (Chapter 2; makemore's, Chapter 7)."""

    train: list[str]  # the words trained on (the lectures': the first 80% of the shuffled)
    dev: list[str]  # held out for choosing hyperparameters (the next 10%)
    test: list[str]  # held out and looked at rarely (the last 10%)


def split_words(words: Sequence[str], seed: int = 42) -> Split:
    """The lectures' split: shuffle with ``random.seed(seed)``, then 80/10/10 (Chapter 2).

    The input is not modified.

    >>> s = split_words([str(i) for i in range(10)])
    >>> len(s.train), len(s.dev), len(s.test)
    (8, 1, 1)
    """
    shuffled = list(words)
    # a fresh Random(seed) is in the same state as the global RNG after random.seed(seed)
    random.Random(seed).shuffle(shuffled)
    n1, n2 = int(0.8 * len(shuffled)), int(0.9 * len(shuffled))
    return Split(shuffled[:n1], shuffled[n1:n2], shuffled[n2:])


MAKEMORE_SEED = 3407  # makemore.py's default --seed
MAKEMORE_TEST = 1000  # makemore.py holds out 10% of the words, at most this many


def makemore_split(words: Sequence[str], seed: int = MAKEMORE_SEED) -> Split:
    """makemore.py's split, and a dev set taken from its training words (Chapter 7).

    makemore seeds torch's global generator, permutes the words with ``torch.randperm``
    and keeps the last ``min(1000, 10%)`` of the permutation for testing; it trains on the
    rest. Its test words here are exactly its test words. makemore has no dev set (it keeps
    the model with the best test loss); here the last as many of its training words as it
    tests on are held out as dev, to choose a recipe and the step to keep, and the model
    trains on the others: fewer words than makemore trains on, never one of its test words.

    >>> s = makemore_split([f"w{i}" for i in range(30)])  # 10%: 3 test words, 3 dev
    >>> len(s.train), len(s.dev), len(s.test)
    (24, 3, 3)
    """
    n_test = min(MAKEMORE_TEST, int(len(words) * 0.1))
    if n_test < 1:
        raise ValueError(f"makemore's split needs at least 10 words, got {len(words)}")
    # a fresh Generator seeded like torch.manual_seed(seed) draws the same permutation
    order = torch.randperm(len(words), generator=torch.Generator().manual_seed(seed)).tolist()
    trained, test = order[:-n_test], order[-n_test:]  # makemore's train and test
    train, dev = trained[:-n_test], trained[-n_test:]  # dev: held out of its train words
    return Split([words[i] for i in train], [words[i] for i in dev], [words[i] for i in test])


def build_dataset(
    words: Sequence[str], vocab: Vocab, block_size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Context windows and next characters for every position of every word (Chapters 1-2).

    Each word is read as ``word + '.'`` behind ``block_size`` boundary tokens; every
    step emits (the last ``block_size`` ids, the next id). Returns ``X`` (N, block_size)
    and ``Y`` (N,), both int64. With ``block_size=1`` the rows are the word's bigrams.

    >>> X, Y = build_dataset(["ab"], Vocab("ab"), block_size=2)
    >>> X.tolist(), Y.tolist()
    ([[0, 0], [0, 1], [1, 2]], [1, 2, 0])
    """
    if block_size < 1:
        raise ValueError(f"block_size must be a positive integer, got {block_size!r}")
    xs: list[list[int]] = []
    ys: list[int] = []
    for word in words:
        context = [0] * block_size
        for ix in vocab.encode(word) + [0]:
            xs.append(context)
            ys.append(ix)
            context = context[1:] + [ix]
    X = torch.tensor(xs, dtype=torch.long).view(-1, block_size)  # (N, block_size)
    Y = torch.tensor(ys, dtype=torch.long)  # (N,)
    return X, Y


@dataclass(frozen=True)
class Overlap:
    """How much of dev and test the training words already contain (Chapter 2)."""

    repeated_names: int  # distinct names that occur more than once in the whole list
    extra_copies: int  # occurrences beyond the first, over all names
    dev_in_train: int  # dev words that also occur in train
    test_in_train: int  # test words that also occur in train


def split_overlap(words: Sequence[str], split: Split) -> Overlap:
    """Count repeated names and the dev/test words that a split also put in train (Chapter 2).

    >>> words = ["ann", "bo", "ann", "cy", "di", "bo", "ed", "fa", "gus", "hal"]
    >>> split_overlap(words, Split(words[:8], words[8:9], ["bo"]))
    Overlap(repeated_names=2, extra_copies=2, dev_in_train=0, test_in_train=1)
    """
    counts = Counter(words)
    train = set(split.train)
    return Overlap(
        repeated_names=sum(1 for c in counts.values() if c > 1),
        extra_copies=sum(c - 1 for c in counts.values()),
        dev_in_train=sum(w in train for w in split.dev),
        test_in_train=sum(w in train for w in split.test),
    )


@dataclass(frozen=True)
class ContextFloor:
    """The lowest loss any model reading these contexts can reach on a dataset (Chapter 2)."""

    contexts: int  # distinct contexts in the dataset
    ambiguous: int  # of those, how many are followed by more than one different character
    examples_ambiguous: int  # examples whose context is one of the ambiguous ones
    nll: float  # the mean NLL when each context predicts exactly its observed frequencies


def context_floor(X: torch.Tensor, Y: torch.Tensor) -> ContextFloor:
    """Why a model cannot fit a dataset to loss zero: identical contexts with different next
    characters (Chapter 2). The best any model can do on (X, Y) is to give each context the
    frequencies of what followed it there.

    >>> X = torch.tensor([[0, 0], [0, 0], [0, 5]]); Y = torch.tensor([5, 1, 1])
    >>> floor = context_floor(X, Y)  # (0, 0) is followed by 5 once and by 1 once
    >>> floor.ambiguous, floor.examples_ambiguous, round(floor.nll, 4)  # 2/3 * ln 2
    (1, 2, 0.4621)
    """
    contexts, ctx_id = torch.unique(X, dim=0, return_inverse=True)  # ctx_id: (N,)
    pairs, pair_id = torch.unique(torch.stack([ctx_id, Y], dim=1), dim=0, return_inverse=True)
    ctx_count = torch.bincount(ctx_id).double()  # (contexts,)
    pair_count = torch.bincount(pair_id).double()  # (pairs,)
    p = pair_count[pair_id] / ctx_count[ctx_id]  # (N,): each example's observed frequency
    n_next = torch.bincount(pairs[:, 0], minlength=len(contexts))  # (contexts,)
    return ContextFloor(
        contexts=len(contexts),
        ambiguous=int((n_next > 1).sum()),
        examples_ambiguous=int((n_next[ctx_id] > 1).sum()),
        nll=float(-p.log().mean()),
    )
