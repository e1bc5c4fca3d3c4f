"""The ``charlm`` command end to end on a tiny word list, every bad input, and the install."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from charlm import checkpoint as ckpt
from charlm.cli import main

ROOT = Path(__file__).resolve().parent.parent
# French words: accented letters exercise a vocabulary that is not a-z
WORDS = """\
amélie bérénice cécile chloé clément élodie émile gaëlle hélène inès jérôme joël léa
léon loïc maëlle mégane noël noémie océane rené sébastien thérèse valérie zoé agnès
aimé andré anaïs bénédicte céline désirée estelle françois frédéric gérard héloïse
""".split()


@pytest.fixture
def words(tmp_path: Path) -> Path:
    path = tmp_path / "words.txt"
    path.write_text("\n".join(WORDS) + "\n", encoding="utf-8")
    return path


def run(*args, capsys) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def train(words: Path, out: Path, *extra, capsys, model: str = "mlp") -> tuple[int, str, str]:
    return run("train", words, "--model", model, "--out", out, "--steps", 30,
               "--eval-every", 10, "--threads", 1, *extra, capsys=capsys)  # fmt: skip


@pytest.mark.parametrize("model", ["bigram", "mlp", "wavenet", "rnn", "gru", "transformer"])
def test_train_then_sample_then_eval(words, tmp_path, capsys, model, one_thread):
    out = tmp_path / "run"
    code, printed, err = train(words, out, capsys=capsys, model=model)
    assert code == 0, err
    assert "kept step" in printed
    state = ckpt.load(out)
    assert state.kind == model and state.log["steps"] == [10, 20, 30]
    assert state.vocab.chars == "".join(sorted(set("".join(WORDS))))  # é, ë, ï ... included
    assert len(list(out.glob("weights-*.pt"))) == 1  # older weights are removed
    code, printed, err = run("sample", out, "-n", 12, "--temperature", 0.7, "--top-k", 5,
                             "--prefix", "é", "--seed", 3, capsys=capsys)  # fmt: skip
    assert code == 0, err
    lines = printed.splitlines()
    assert len(lines) == 13 and all(line.split()[-1].startswith("é") for line in lines[:12])
    assert lines[-1].endswith("in dev/test") and "new" in lines[-1]
    code, printed, err = run("eval", out, capsys=capsys)
    assert code == 0 and [line.split(":")[0] for line in printed.splitlines()] == [
        "train", "dev", "test"]  # fmt: skip
    code, printed, err = run("eval", out, words, capsys=capsys)
    assert code == 0 and f"({len(WORDS)} words)" in printed


def test_a_sequence_model_reads_the_longest_word_and_has_its_own_recipe(
    words, tmp_path, capsys, one_thread
):
    out = tmp_path / "run"
    assert train(words, out, capsys=capsys, model="gru")[0] == 0
    longest = max(len(w) for w in WORDS)
    assert ckpt.load(out).config.block_size == max(16, longest + 1)
    code, _, err = train(words, tmp_path / "lecture", "--recipe", "lecture", capsys=capsys,
                         model="transformer")  # fmt: skip
    assert code == 2 and "trains with its own recipe" in err
    assert not (tmp_path / "lecture").exists()


def test_the_same_seed_gives_the_same_samples(words, tmp_path, capsys, one_thread):
    out = tmp_path / "run"
    assert train(words, out, capsys=capsys)[0] == 0
    first = run("sample", out, "--seed", 7, capsys=capsys)[1]
    assert run("sample", out, "--seed", 7, capsys=capsys)[1] == first
    assert run("sample", out, "--seed", 8, capsys=capsys)[1] != first


def test_resume_continues_from_the_kept_step(words, tmp_path, capsys, one_thread):
    out = tmp_path / "run"
    assert train(words, out, capsys=capsys)[0] == 0
    kept = ckpt.load(out).log["step"]
    code, _, err = run("train", words, "--out", out, "--resume", "--steps", 50,
                       "--eval-every", 10, capsys=capsys)  # fmt: skip
    assert code == 0, err
    log = ckpt.load(out).log
    # the checks up to the kept step, then on from it: the resumed run's log
    assert log["steps"] == [*range(10, kept + 1, 10), *range(kept + 10, 51, 10)]
    assert len(log["seconds"]) == len(log["dev"]) == len(log["steps"])


def test_words_with_dots_get_another_boundary(tmp_path, capsys, one_thread):
    path = tmp_path / "places.txt"
    path.write_text("\n".join(f"st. {w}" for w in WORDS), encoding="utf-8")
    assert train(path, tmp_path / "run", capsys=capsys)[0] == 0
    assert ckpt.load(tmp_path / "run").vocab.boundary == "\n"


# --- bad input: one line on stderr, exit status 2, nothing written -------------------------


def bad(err: str) -> bool:
    return err.count("\n") == 1 and "error:" in err and "Traceback" not in err


@pytest.mark.parametrize(
    "content, says",
    [
        (None, "no word list"),
        (b"", "0 word(s)"),
        (b"\n  \n", "0 word(s)"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
        ("émile\nzoé\n".encode("latin-1"), "not UTF-8"),
        (b"word\n", "1 word(s)"),
    ],
    ids=["missing", "empty", "blank", "binary", "latin-1", "one word"],
)
def test_a_bad_word_list_is_refused(tmp_path, capsys, content, says):
    path = tmp_path / "words.txt"
    if content is not None:
        path.write_bytes(content)
    code, _, err = train(path, tmp_path / "run", capsys=capsys)
    assert code == 2 and bad(err) and says in err
    assert not (tmp_path / "run").exists()


def test_out_must_not_be_someone_elses_folder(words, tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    code, _, err = train(words, out, capsys=capsys)
    assert code == 2 and bad(err) and "other files" in err
    assert [p.name for p in out.iterdir()] == ["notes.txt"]


def test_a_checkpoint_is_not_overwritten_without_resume(words, tmp_path, capsys, one_thread):
    out = tmp_path / "run"
    assert train(words, out, capsys=capsys)[0] == 0
    before = (out / ckpt.MANIFEST).read_bytes()
    code, _, err = train(words, out, capsys=capsys)
    assert code == 2 and bad(err) and "--resume" in err
    assert (out / ckpt.MANIFEST).read_bytes() == before


@pytest.fixture
def trained(words, tmp_path, capsys, one_thread) -> Path:
    out = tmp_path / "run"
    assert train(words, out, capsys=capsys)[0] == 0
    capsys.readouterr()
    return out


@pytest.mark.parametrize(
    "args, says",
    [
        (["--prefix", "xyz!"], "--prefix"),
        (["--temperature", "0"], "temperature"),
        (["--temperature", "-1"], "temperature"),
        (["--temperature", "nan"], "temperature"),
        (["--top-k", "0"], "top-k"),
    ],
)
def test_bad_sampling_options_are_refused(trained, capsys, args, says):
    code, out, err = run("sample", trained, *args, capsys=capsys)
    assert code == 2 and bad(err) and says in err and out == ""


@pytest.mark.parametrize("args", [["--model", "gpt"], ["--steps", "0"], ["--steps", "many"]])
def test_bad_command_line_values_are_refused(words, tmp_path, capsys, args):
    with pytest.raises(SystemExit) as exit:
        main(["train", str(words), "--out", str(tmp_path / "run"), *args])
    assert exit.value.code == 2 and "Traceback" not in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_eval_refuses_words_outside_the_vocabulary(trained, tmp_path, capsys):
    other = tmp_path / "other.txt"
    other.write_text("léa\nzoé!\n", encoding="utf-8")
    code, _, err = run("eval", trained, other, capsys=capsys)
    assert code == 2 and bad(err) and "'!'" in err


def damage_weights(folder: Path) -> None:
    (weights,) = folder.glob("weights-*.pt")
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))


def rewrite_manifest(folder: Path, **changes) -> None:
    path = folder / ckpt.MANIFEST
    manifest = json.loads(path.read_text())
    manifest.update(changes)
    path.write_text(json.dumps(manifest))


@pytest.mark.parametrize(
    "damage, says",
    [
        (lambda d: damage_weights(d), "damaged"),
        (lambda d: (d / ckpt.MANIFEST).write_text("{not json"), "damaged"),
        (lambda d: rewrite_manifest(d, format="charlm-checkpoint/9"), "format"),
        (lambda d: rewrite_manifest(d, kind="transformer"), "not a readable"),
        (lambda d: rewrite_manifest(d, config={"n_hidden": -1}), "not a readable"),
        (lambda d: (d / ckpt.MANIFEST).unlink(), "not a charlm checkpoint"),
    ],
    ids=["weights", "manifest", "later format", "unknown kind", "bad config", "foreign"],
)
def test_a_bad_checkpoint_is_refused(trained, capsys, damage, says):
    damage(trained)
    for command in ("sample", "eval"):
        code, out, err = run(command, trained, capsys=capsys)
        assert code == 2 and bad(err) and says in err and out == ""


def test_incompatible_weights_are_refused(trained, capsys):
    config = json.loads((trained / ckpt.MANIFEST).read_text())["config"]
    rewrite_manifest(trained, config={**config, "n_hidden": config["n_hidden"] + 1})
    code, _, err = run("sample", trained, capsys=capsys)
    assert code == 2 and bad(err) and "do not fit" in err


# --- the install -----------------------------------------------------------------------------


@pytest.mark.build
def test_pip_install_outside_the_repository(tmp_path, words):
    """``pip install .`` into a new venv, then the command from a folder outside the repo.

    The new venv sees this venv's packages (torch is large) through a ``.pth`` file; charlm
    itself comes from the wheel pip builds, not from the source tree.
    """
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    site = next((env_dir / "lib").glob("python*/site-packages"))
    deps = [p for p in sys.path if p.endswith("site-packages") and Path(p).is_dir()]
    (site / "project-deps.pth").write_text("\n".join(deps) + "\n")
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {**os.environ, "PYTHONPATH": ""}
    # a copy of the sources: building a wheel writes build/ beside them
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".git", ".venv", "_build", "build", "data", "*.egg-info", "__pycache__"))  # fmt: skip
    install = [python, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation"]
    subprocess.run([*install, str(source)], cwd=work, env=env, check=True)
    charlm = env_dir / "bin" / "charlm"
    shown = subprocess.run([charlm, "--help"], cwd=work, env=env, capture_output=True, text=True)
    assert shown.returncode == 0 and "train" in shown.stdout
    where = subprocess.run(
        [python, "-c", "import charlm.bookbuild as b; print(b.__file__)"],
        cwd=work, env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert str(ROOT) not in where.stdout and "site-packages" in where.stdout  # the installed copy
    steps = ["--steps", "20", "--eval-every", "10", "--threads", "1"]
    subprocess.run([charlm, "train", words, "--model", "mlp", "--out", "run", *steps],
                   cwd=work, env=env, check=True, capture_output=True)  # fmt: skip
    sampled = subprocess.run([python, "-m", "charlm", "sample", "run", "-n", "3"], cwd=work,
                             env=env, capture_output=True, text=True, check=True)  # fmt: skip
    assert len(sampled.stdout.splitlines()) == 4


def test_run_command_runs_the_real_program(tmp_path):
    from charlm.cli import run_command

    assert "train" in run_command("--help", cwd=tmp_path)
    with pytest.raises(subprocess.CalledProcessError):
        run_command("sample", "no-such-folder", cwd=tmp_path)
