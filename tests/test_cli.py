"""The ``charlm`` command end to end on a tiny word list, every bad input, and the install."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import venv
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch

import charlm.train
from charlm import checkpoint as ckpt
from charlm.cli import main
from charlm.data import build_dataset, load_words, makemore_split
from charlm.ensemble import Ensemble
from charlm.sample import sample
from charlm.train import evaluate

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


def test_makemore_split_trains_without_its_test_words(words, tmp_path, capsys, one_thread):
    out = tmp_path / "run"
    code, printed, err = train(words, out, "--split", "makemore", capsys=capsys)
    assert code == 0, err
    split = ckpt.load(out).split
    assert split == makemore_split(load_words(words))
    n_test = int(len(WORDS) * 0.1)
    assert f"({n_test:,} test words, the makemore split)" in printed
    code, printed, _ = run("eval", out, capsys=capsys)
    assert code == 0
    assert printed.splitlines()[-1].endswith(f"({n_test} words)")  # the test line


def test_members_train_an_ensemble_of_the_runs_their_seeds_give(
    words, tmp_path, capsys, one_thread
):
    """``--members 2 --seed 5``: the models that ``--seed 5`` and ``--seed 6`` train, averaged
    (each single run keeps its last step here: one dev check, at the end)."""
    out = tmp_path / "ensemble"
    code, printed, err = train(words, out, "--members", 2, "--seed", 5, "--eval-every", 30,
                               capsys=capsys, model="gru")  # fmt: skip
    assert code == 0, err
    assert "model 2 of 2 (seed 6)" in printed and "2 models of 30 steps, averaged" in printed
    kept = ckpt.load(out)
    assert kept.members == 2 and len(kept.model().members) == 2
    singles = []
    for seed in (5, 6):
        one = tmp_path / f"seed{seed}"
        assert train(words, one, "--seed", seed, "--eval-every", 30, capsys=capsys,
                     model="gru")[0] == 0  # fmt: skip
        singles.append(ckpt.load(one).model())
    X, Y = build_dataset(kept.split.dev, kept.vocab, kept.config.block_size)
    assert kept.log["best_dev"] == pytest.approx(evaluate(Ensemble(singles), X, Y), abs=1e-6)
    code, printed, err = run("eval", out, capsys=capsys)
    assert code == 0 and printed.splitlines()[1].startswith(f"dev: {kept.log['best_dev']:.4f}")
    code, printed, err = run("sample", out, "-n", 3, capsys=capsys)
    assert code == 0 and len(printed.splitlines()) == 4


@pytest.mark.parametrize(
    "extra, message",
    [(["--model", "mlp"], "only the rnn, gru and transformer"),
     (["--model", "gru", "--resume"], "an ensemble trains in one go")],
)  # fmt: skip
def test_members_are_refused_where_they_cannot_train(words, tmp_path, capsys, extra, message):
    out = tmp_path / "run"
    code, _, err = run("train", words, "--out", out, "--members", 2, *extra, capsys=capsys)
    assert code == 2 and message in err and "Traceback" not in err
    assert not out.exists()


def test_an_ensemble_is_not_resumed(words, tmp_path, capsys, one_thread):
    out = tmp_path / "run"
    assert train(words, out, "--members", 2, capsys=capsys, model="rnn")[0] == 0
    before = (out / "checkpoint.json").read_bytes()
    code, _, err = run("train", words, "--out", out, "--resume", capsys=capsys)
    assert code == 2 and "holds an ensemble" in err
    assert (out / "checkpoint.json").read_bytes() == before


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


def grow_hidden_layer(folder: Path) -> None:
    config = json.loads((folder / ckpt.MANIFEST).read_text())["config"]
    rewrite_manifest(folder, config={**config, "n_hidden": config["n_hidden"] + 1})


def write(name: str, content: bytes):
    return lambda tmp: (tmp / name).write_bytes(content)


def other_files(tmp: Path) -> None:
    (tmp / "mine").mkdir()
    (tmp / "mine" / "notes.txt").write_text("keep me")


WORD_LIST = ("\n".join(WORDS) + "\n").encode()
TRAIN = ["train", "{tmp}/words.txt", "--out", "{tmp}/run", "--steps", "30"]
# every refusal of the command: (what is on disk, the command line, what the line must say).
# {tmp} is the test's folder; {ckpt} a checkpoint trained there (copied for each case)
REFUSALS = {
    # the word list
    "missing list": (None, TRAIN, "no word list"),
    "list is a folder": (lambda t: (t / "words.txt").mkdir(), TRAIN, "is a folder"),
    "empty list": (write("words.txt", b""), TRAIN, "0 word(s)"),
    "blank list": (write("words.txt", b"\n  \n"), TRAIN, "0 word(s)"),
    "one word": (write("words.txt", b"word\n"), TRAIN, "1 word(s)"),
    "binary list": (write("words.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), TRAIN, "binary"),
    "latin-1 list": (write("words.txt", "émile\nzoé\n".encode("latin-1")), TRAIN, "not UTF-8"),
    "utf-16 list": (write("words.txt", "\n".join(WORDS).encode("utf-16")), TRAIN, "iconv"),
    "utf-16-le list": (write("words.txt", "\n".join(WORDS).encode("utf-16-le")), TRAIN, "UTF-16"),
    # the output folder
    "out has other files": (
        lambda t: (write("words.txt", WORD_LIST)(t), other_files(t)),
        ["train", "{tmp}/words.txt", "--out", "{tmp}/mine"],
        "other files",
    ),
    "out is a file": (
        lambda t: (write("words.txt", WORD_LIST)(t), write("run", b"x")(t)),
        TRAIN,
        "is a file",
    ),
    "out cannot exist": (
        lambda t: (write("words.txt", WORD_LIST)(t), write("file", b"x")(t)),
        ["train", "{tmp}/words.txt", "--out", "{tmp}/file/run"],
        "cannot be written: ",
    ),
    "out holds a checkpoint": (
        write("words.txt", WORD_LIST),
        ["train", "{tmp}/words.txt", "--out", "{ckpt}"],
        "--resume",
    ),
    "resume nothing": (
        write("words.txt", WORD_LIST),
        [*TRAIN, "--resume"],
        "no checkpoint folder",
    ),
    "resume, all steps done": (
        write("words.txt", WORD_LIST),
        ["train", "{tmp}/words.txt", "--out", "{ckpt}", "--resume", "--steps", "10"],
        "give more --steps",
    ),
    "sequence model, lecture recipe": (
        write("words.txt", WORD_LIST),
        [*TRAIN, "--model", "transformer", "--recipe", "lecture"],
        "trains with its own recipe",
    ),
    # command-line values
    "unknown model": (write("words.txt", WORD_LIST), [*TRAIN, "--model", "gpt"], "--model"),
    "unknown split": (write("words.txt", WORD_LIST), [*TRAIN, "--split", "random"], "--split"),
    "zero steps": (write("words.txt", WORD_LIST), [*TRAIN[:-1], "0"], "at least 1"),
    "steps not a number": (write("words.txt", WORD_LIST), [*TRAIN[:-1], "many"], "whole number"),
    "no --out": (write("words.txt", WORD_LIST), TRAIN[:2], "--out"),
    "no command": (None, [], "required"),
    # sampling
    "prefix outside the vocabulary": (None, ["sample", "{ckpt}", "--prefix", "xyz!"], "--prefix"),
    "prefix with the boundary": (None, ["sample", "{ckpt}", "--prefix", "."], "word's end"),
    "temperature 0": (None, ["sample", "{ckpt}", "--temperature", "0"], "temperature"),
    "temperature -1": (None, ["sample", "{ckpt}", "--temperature", "-1"], "temperature"),
    "temperature nan": (None, ["sample", "{ckpt}", "--temperature", "nan"], "temperature"),
    "temperature not a number": (None, ["sample", "{ckpt}", "--temperature", "hot"], "float"),
    "top-k 0": (None, ["sample", "{ckpt}", "--top-k", "0"], "top-k"),
    "n 0": (None, ["sample", "{ckpt}", "-n", "0"], "at least 1"),
    # evaluating
    "eval, words outside the vocabulary": (
        write("other.txt", "léa\nzoé!\n".encode()),
        ["eval", "{ckpt}", "{tmp}/other.txt"],
        "'!'",
    ),
    "eval, empty list": (
        write("other.txt", b""),
        ["eval", "{ckpt}", "{tmp}/other.txt"],
        "no words",
    ),
    # checkpoints
    "no checkpoint": (None, ["sample", "{tmp}/nothing"], "no checkpoint folder"),
    "damaged weights": (lambda t: damage_weights(t / "ckpt"), ["sample", "{ckpt}"], "damaged"),
    "damaged manifest": (
        lambda t: (t / "ckpt" / ckpt.MANIFEST).write_text("{not json"),
        ["eval", "{ckpt}"],
        "damaged",
    ),
    "later format": (
        lambda t: rewrite_manifest(t / "ckpt", format="charlm-checkpoint/9"),
        ["sample", "{ckpt}"],
        "format",
    ),
    "unknown kind": (
        lambda t: rewrite_manifest(t / "ckpt", kind="transformer"),
        ["eval", "{ckpt}"],
        "not a readable",
    ),
    "bad config": (
        lambda t: rewrite_manifest(t / "ckpt", config={"n_hidden": -1}),
        ["sample", "{ckpt}"],
        "not a readable",
    ),
    "bad member count": (
        lambda t: rewrite_manifest(t / "ckpt", members=0),
        ["eval", "{ckpt}"],
        "members must be a whole number",
    ),
    "more members than weights": (
        lambda t: rewrite_manifest(t / "ckpt", members=2),
        ["sample", "{ckpt}"],
        "do not fit",
    ),
    "foreign folder": (
        lambda t: (t / "ckpt" / ckpt.MANIFEST).unlink(),
        ["eval", "{ckpt}"],
        "not a charlm checkpoint",
    ),
    "weights that do not fit": (
        lambda t: grow_hidden_layer(t / "ckpt"),
        ["sample", "{ckpt}"],
        "do not fit",
    ),
}


@pytest.fixture(scope="module")
def a_checkpoint(tmp_path_factory) -> Path:
    """One small trained MLP, copied into each test that needs it."""
    folder = tmp_path_factory.mktemp("checkpoint")
    (folder / "words.txt").write_text("\n".join(WORDS) + "\n", encoding="utf-8")
    threads = torch.get_num_threads()
    try:
        code = main(["train", str(folder / "words.txt"), "--model", "mlp", "--out",
                     str(folder / "run"), "--steps", "30", "--eval-every", "10",
                     "--threads", "1"])  # fmt: skip
    finally:
        torch.set_num_threads(threads)
    assert code == 0
    return folder / "run"


def snapshot(folder: Path) -> dict[str, bytes | None]:
    """Every file and folder below ``folder``, with the bytes of each file."""
    return {
        str(p.relative_to(folder)): p.read_bytes() if p.is_file() else None
        for p in sorted(folder.rglob("*"))
    }


@pytest.mark.parametrize("case", list(REFUSALS))
def test_every_refusal_is_one_line_exit_2_and_nothing_written(case, tmp_path, a_checkpoint, capsys):
    prepare, argv, says = REFUSALS[case]
    shutil.copytree(a_checkpoint, tmp_path / "ckpt")
    if prepare is not None:
        prepare(tmp_path)
    before = snapshot(tmp_path)
    args = [a.format(tmp=tmp_path, ckpt=tmp_path / "ckpt") for a in argv]
    try:
        code = main(args)
    except SystemExit as exit:  # argparse's own refusals
        code = exit.code
    out, err = capsys.readouterr()
    assert code == 2 and bad(err) and says in err, err
    assert out == ""
    assert snapshot(tmp_path) == before  # nothing written, nothing removed


def test_a_word_list_with_a_byte_order_mark_reads_as_without(tmp_path):
    plain, marked = tmp_path / "plain.txt", tmp_path / "marked.txt"
    plain.write_text("emma\nava\n", encoding="utf-8")
    marked.write_text("emma\nava\n", encoding="utf-8-sig")
    assert marked.read_bytes().startswith(b"\xef\xbb\xbf")
    assert load_words(marked) == load_words(plain) == ["emma", "ava"]


def test_out_on_a_read_only_file_system_is_refused_before_training(
    words, tmp_path, capsys, monkeypatch
):
    import errno

    import charlm.cli as cli

    def read_only(self, *args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system", str(self))

    def no_training(*args, **kwargs):
        raise AssertionError("trained before finding that --out cannot be written")

    monkeypatch.setattr(Path, "mkdir", read_only)
    monkeypatch.setattr(cli, "train", no_training)
    code, out, err = train(words, tmp_path / "run", capsys=capsys)
    assert code == 2 and bad(err) and "cannot be written: Read-only file system" in err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("fails_at", [3, 4], ids=["new weights", "new manifest"])
def test_a_full_disk_keeps_the_last_checkpoint_and_says_so(
    words, tmp_path, capsys, monkeypatch, one_thread, fails_at
):
    """The disk fills at the second save (its weights, or its manifest after the weights):
    one line naming the folder and the cause, the first save intact, no stray file."""
    import errno

    real_fsync, calls = os.fsync, []

    def fsync(fd):  # each save syncs its weights, then its manifest
        calls.append(fd)
        if len(calls) >= fails_at:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    out = tmp_path / "run"
    code, printed, err = train(words, out, capsys=capsys)
    assert code == 2 and bad(err), err
    assert f"cannot write the checkpoint into {out}: No space left on device" in err
    assert "the one saved last is kept" in err
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert sorted(p.name for p in out.iterdir())[0] == ckpt.MANIFEST
    assert len(list(out.iterdir())) == 2  # the manifest and its weights: no temporary file
    assert ckpt.load(out).log["steps"] == [10]  # the first save, whole


def test_sample_prints_each_word_as_it_is_made(a_checkpoint):
    """A million words: the first lines arrive at once, and the command can be stopped."""
    import threading

    command = [sys.executable, "-m", "charlm", "sample", str(a_checkpoint), "-n", "1000000"]
    sampler = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    first: list[str] = []
    reader = threading.Thread(target=lambda: first.extend(sampler.stdout.readline() for _ in "123"))
    try:
        reader.start()
        reader.join(60)  # a million words take far longer: only printed words arrive in time
        assert len(first) == 3 and all(line.split()[-1] for line in first), first
        assert sampler.poll() is None  # still making more
    finally:
        sampler.kill()
        sampler.wait(30)
        reader.join(30)
        sampler.stdout.close()


def test_samples_one_by_one_are_the_samples_at_once(a_checkpoint, capsys):
    state = ckpt.load(a_checkpoint)
    at_once = sample(state.model(), state.vocab, 12, torch.Generator().manual_seed(5))
    code, printed, _ = run("sample", a_checkpoint, "-n", 12, "--seed", 5, capsys=capsys)
    assert code == 0 and [line.split()[-1] for line in printed.splitlines()[:-1]] == at_once


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


def test_the_log_counts_training_time_not_time_before_it(
    words, tmp_path, capsys, one_thread, monkeypatch
):
    """Whatever runs before the first step (a tool holding the run until a core is free, say)
    is not training: the log's seconds start with the steps."""

    clock = [0.0]  # a clock only the slow start moves

    @contextmanager
    def slow_start(model, X, config):
        clock[0] += 100.0
        yield ()

    monkeypatch.setattr(time, "perf_counter", lambda: clock[0])
    monkeypatch.setattr(charlm.train, "watch", slow_start)
    assert train(words, tmp_path / "run", capsys=capsys)[0] == 0
    assert ckpt.load(tmp_path / "run").log["seconds"] == [0.0, 0.0, 0.0]
