"""Shared fixtures: tiny word lists for unit tests, the full dataset where present."""

from __future__ import annotations

import matplotlib
import pytest
import torch

matplotlib.use("Agg")  # tests draw figures without a display

from charlm.data import DEFAULT_NAMES, load_names  # noqa: E402
from charlm.fetch import NAMES_SHA256, sha256_of  # noqa: E402
from charlm.vocab import Vocab  # noqa: E402

TINY_WORDS = ["emma", "olivia", "ava", "isabella", "sophia", "mia", "amelia", "ella"]


@pytest.fixture
def tiny_words() -> list[str]:
    return list(TINY_WORDS)


@pytest.fixture
def tiny_vocab() -> Vocab:
    return Vocab.from_words(TINY_WORDS)


@pytest.fixture(scope="session")
def names() -> list[str]:
    """All 32,033 names; the test is skipped, with the reason shown, when they are absent."""
    if not DEFAULT_NAMES.is_file() or sha256_of(DEFAULT_NAMES) != NAMES_SHA256:
        pytest.skip(
            f"full dataset not present at {DEFAULT_NAMES}: run `make data` "
            "(or set CHARLM_NAMES) to run the full-dataset tests"
        )
    return load_names()


@pytest.fixture(scope="session")
def vocab(names: list[str]) -> Vocab:
    return Vocab.from_words(names)


@pytest.fixture(autouse=True)
def threads_left_as_found():
    """A test that changes torch's thread count must restore it: later tests would run,
    and time, on the count it left (use the ``one_thread`` fixture)."""
    before = torch.get_num_threads()
    yield
    after = torch.get_num_threads()
    torch.set_num_threads(before)
    assert after == before, f"the test left torch at {after} thread(s), not {before}"


@pytest.fixture
def one_thread():
    """torch on one thread for the test, as the chapters and the worker processes run."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
