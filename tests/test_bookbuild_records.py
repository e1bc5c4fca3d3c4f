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
