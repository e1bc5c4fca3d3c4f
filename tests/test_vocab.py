from __future__ import annotations

import pytest

from charlm.vocab import Vocab


def test_boundary_is_zero_then_sorted(tiny_words):
    v = Vocab.from_words(tiny_words)
    assert v.itos[0] == "." and v.stoi["."] == 0
    assert v.itos[1:] == sorted(set("".join(tiny_words)))
    assert len(v) == len(set("".join(tiny_words))) + 1


def test_round_trip(tiny_vocab, tiny_words):
    for w in tiny_words:
        assert tiny_vocab.decode(tiny_vocab.encode(w)) == w


def test_unknown_character_names_it_and_its_position(tiny_vocab):
    with pytest.raises(ValueError, match=r"'z' at position 2 of 'emz'"):
        tiny_vocab.encode("emz")


def test_decode_out_of_range(tiny_vocab):
    with pytest.raises(ValueError, match="outside the vocabulary"):
        tiny_vocab.decode([len(tiny_vocab)])


def test_boundary_character_in_words_is_rejected():
    with pytest.raises(ValueError, match="reserved"):
        Vocab.from_words(["a.b"])


def test_full_vocabulary(vocab):
    assert "".join(vocab.itos) == ".abcdefghijklmnopqrstuvwxyz"
