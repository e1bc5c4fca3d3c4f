"""Result records: written only in the build, read back whole, refused when foreign."""

from __future__ import annotations

import json

import pytest

from charlm.bookbuild.records import Result, load_results, record_result


def test_a_record_round_trips(tmp_path):
    values = dict(chapter=5, model="WaveNet-style tree", params=76_579, train=1.769,
                  dev=1.9937, seconds=331.0, lecture_val=1.9937, recipe="SGD")  # fmt: skip
    record_result(folder=tmp_path, **values)
    assert [p.name for p in tmp_path.iterdir()] == ["05-wavenet-style-tree.json"]
    assert load_results(tmp_path) == [Result(**values)]


def test_without_a_folder_record_does_nothing(monkeypatch):
    monkeypatch.delenv("CHARLM_RESULTS", raising=False)
    record_result(chapter=1, model="bigram", params=729, train=2.45)  # and writes nowhere


def test_outside_the_build_a_bad_record_still_fails(monkeypatch):
    monkeypatch.delenv("CHARLM_RESULTS", raising=False)
    with pytest.raises(ValueError, match="chapter"):
        record_result(chapter=0, model="bigram", params=729, train=2.45)


def test_load_explains_a_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="make book"):
        load_results(tmp_path / "nowhere")


def test_load_refuses_a_foreign_file(tmp_path):
    (tmp_path / "01-x.json").write_text(json.dumps({"chapter": 1}))
    with pytest.raises(ValueError, match="not a charlm result record"):
        load_results(tmp_path)


@pytest.mark.parametrize("bad", [{"chapter": 0}, {"model": ""}])
def test_bad_values_are_refused(bad):
    fields = {"chapter": 1, "model": "m", "params": 1, "train": 1.0, **bad}
    with pytest.raises(ValueError):
        Result(**fields)


# --- the sampler page's models -----------------------------------------------------------


def small_gru(vocab):
    import torch

    from charlm.recurrent import RecurrentConfig

    config = RecurrentConfig(cell="gru", vocab_size=len(vocab), n_embd=4, n_hidden=6,
                             block_size=9, dropout=0.1)  # fmt: skip
    return config, config.build(torch.Generator().manual_seed(0))


def test_a_model_record_holds_its_export_and_torchs_probabilities(tmp_path, tiny_vocab):
    import torch

    from charlm.bookbuild.records import check_prefixes, load_models, next_char_probs, record_model
    from charlm.export import read_export

    config, model = small_gru(tiny_vocab)
    model.train()
    record_model(key="gru", title="GRU", chapter=7, model=model, vocab=tiny_vocab, kind="gru",
                 config=config, folder=tmp_path)  # fmt: skip
    assert model.training  # left in the mode it was in
    (record,) = load_models(tmp_path)
    header, tensors = read_export((tmp_path / "models" / "gru.charlm").read_bytes())
    assert record["path"] == str(tmp_path / "models" / "gru.charlm")
    assert header["kind"] == "gru" and record["vocab"] == tiny_vocab.itos
    assert all(torch.equal(tensors[k], v) for k, v in model.state_dict().items())
    prefixes = [check["prefix"] for check in record["checks"]]
    assert prefixes == check_prefixes(9, tiny_vocab) and len(prefixes[-1]) == 9
    assert prefixes[0] == "" and len(prefixes) >= 3  # the empty start, and some spelled
    # torch's probabilities in eval mode (dropout off), the same each time they are asked for
    model.eval()
    for check in record["checks"]:
        assert check["probs"] == next_char_probs(model, tiny_vocab, check["prefix"])
        assert abs(sum(check["probs"]) - 1) < 1e-9
    assert len(record["samples"]) == 10 and record["trained_on"] == "train"


def test_models_are_listed_by_chapter_and_a_missing_folder_is_explained(tmp_path, tiny_vocab):
    from charlm.bigram import CountingNgram
    from charlm.bookbuild.records import load_models, record_model
    from charlm.data import build_dataset

    with pytest.raises(FileNotFoundError, match="make book"):
        load_models(tmp_path)
    config, model = small_gru(tiny_vocab)
    record_model(key="gru", title="GRU", chapter=7, model=model, vocab=tiny_vocab, kind="gru",
                 config=config, folder=tmp_path)  # fmt: skip
    counts = CountingNgram(len(tiny_vocab)).fit(*build_dataset(["ava", "bo"], tiny_vocab, 1))
    record_model(key="bigram", title="Bigram", chapter=1, model=counts, vocab=tiny_vocab,
                 kind="counts", config={"block_size": 1, "smoothing": 1.0}, trained_on="all",
                 folder=tmp_path)  # fmt: skip
    assert [r["key"] for r in load_models(tmp_path)] == ["bigram", "gru"]
    with pytest.raises(ValueError, match="trained_on"):
        record_model(key="x", title="x", chapter=1, model=counts, vocab=tiny_vocab,
                     kind="counts", trained_on="some", folder=tmp_path)  # fmt: skip


def test_published_files_land_whole_in_their_folder(tmp_path, monkeypatch):
    from charlm.bookbuild.records import publish

    publish("models.json", b"[]", folder=tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["models.json"]
    monkeypatch.delenv("CHARLM_SITE", raising=False)
    publish("other.json", b"{}")  # outside the build: nowhere
    assert not (tmp_path / "other.json").exists()
