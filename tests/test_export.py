from __future__ import annotations

import string
from dataclasses import asdict, replace

import pytest
import torch

from charlm import recipes
from charlm.bigram import BigramConfig, CountingNgram
from charlm.data import build_dataset
from charlm.export import ExportError, read_export, to_bytes, write_export
from charlm.models import MLPConfig, WaveNetConfig
from charlm.recurrent import RecurrentConfig
from charlm.transformer import TransformerConfig
from charlm.vocab import Vocab

SMALL = {
    "bigram": BigramConfig(),
    "mlp": MLPConfig(n_embd=3, n_hidden=8, batchnorm=True),
    "wavenet": WaveNetConfig(n_embd=4, n_hidden=6, block_size=4),
    "gru": RecurrentConfig(cell="gru", n_embd=4, n_hidden=6, block_size=5),
    "transformer": TransformerConfig(n_embd=8, n_head=2, n_layer=1, block_size=5),
}


def trained_a_little(config, vocab):
    """A model whose running statistics have moved off their start, in eval mode."""
    config = replace(config, vocab_size=len(vocab))
    model = config.build(torch.Generator().manual_seed(0))
    idx = torch.randint(len(vocab), (16, model.block_size), generator=torch.Generator())
    with torch.no_grad():
        model.train()(idx)  # BatchNorm updates its running statistics
    return config, model.eval()


@pytest.mark.parametrize("kind", sorted(SMALL))
def test_what_is_written_reads_back_to_the_same_tensors(kind, tiny_vocab):
    config, model = trained_a_little(SMALL[kind], tiny_vocab)
    header, tensors = read_export(to_bytes(model, tiny_vocab, kind, config))
    state = model.state_dict()
    assert set(tensors) == set(state) and state
    for name, value in state.items():
        assert tensors[name].dtype == value.dtype and torch.equal(tensors[name], value), name
    assert header["vocab"] == tiny_vocab.itos and header["kind"] == kind
    assert header["config"] == asdict(config) and header["block_size"] == model.block_size


@pytest.mark.parametrize("kind", sorted(SMALL))
def test_a_model_rebuilt_from_its_export_computes_the_same_logits(kind, tiny_vocab):
    config, model = trained_a_little(SMALL[kind], tiny_vocab)
    _, tensors = read_export(to_bytes(model, tiny_vocab, kind, config))
    rebuilt = config.build(torch.Generator().manual_seed(1)).eval()  # other weights first
    rebuilt.load_state_dict(tensors)
    idx = torch.randint(len(tiny_vocab), (8, model.block_size), generator=torch.Generator())
    with torch.no_grad():
        assert torch.equal(rebuilt(idx), model(idx))


def test_a_counting_model_exports_its_counts(tiny_words, tiny_vocab):
    X, Y = build_dataset(tiny_words, tiny_vocab, 1)
    model = CountingNgram(len(tiny_vocab)).fit(X, Y)
    _, tensors = read_export(to_bytes(model, tiny_vocab, "counts"))
    assert torch.equal(tensors["counts"], model.counts) and model.counts.sum() == len(Y)
    model.counts[0, 0] = 2**24 + 1  # no longer exact in float32
    with pytest.raises(ValueError, match="2\\*\\*24"):
        to_bytes(model, tiny_vocab, "counts")


def test_written_whole_with_nothing_left_beside_it(tmp_path, tiny_vocab):
    config, model = trained_a_little(SMALL["mlp"], tiny_vocab)
    path = tmp_path / "mlp.charlm"
    size = write_export(model, tiny_vocab, "mlp", path, config)
    assert path.stat().st_size == size and [p.name for p in tmp_path.iterdir()] == ["mlp.charlm"]


def test_damaged_bytes_are_refused_with_the_reason(tiny_vocab):
    config, model = trained_a_little(SMALL["mlp"], tiny_vocab)
    blob = to_bytes(model, tiny_vocab, "mlp", config)
    with pytest.raises(ExportError, match="damaged"):
        read_export(blob[:-4])
    with pytest.raises(ExportError, match="too short"):
        read_export(b"\x01")
    with pytest.raises(ExportError, match="not JSON"):
        read_export(b"\x04\x00\x00\x00{{{{")
    with pytest.raises(ExportError, match="format"):
        read_export(b"\x04\x00\x00\x00{}  ")
    with pytest.raises(ExportError, match="damaged"):
        read_export(b"\x1c\x00\x00\x00" + b'{"format":"charlm-export/1"}')  # no tensors
    with pytest.raises(ExportError, match="header of"):
        read_export(b"\xff\x00\x00\x00{}")


def test_the_books_models_together_stay_under_three_megabytes():
    # the headline configs with fresh weights (the size depends on the shapes only)
    vocab = Vocab.from_words([string.ascii_lowercase])  # the 27 tokens of the names
    configs = {
        "bigram": BigramConfig(),
        "mlp": MLPConfig(),
        "batchnorm mlp": recipes.BATCHNORM_MLP,
        "wavenet": recipes.WAVENET,
        "gru": replace(recipes.GRU, block_size=16),
        "transformer": replace(recipes.TRANSFORMER, block_size=16),
    }
    sizes = {kind: len(to_bytes(config.build(torch.Generator()), vocab, kind, config))
             for kind, config in configs.items()}  # fmt: skip
    assert sum(sizes.values()) < 3_000_000, sizes
