"""The ``charlm`` command: train, sample and evaluate the book's models on any word list.

    charlm train WORDS.txt --model wavenet --out DIR   # the book's fast recipe (Chapter 6)
    charlm train WORDS.txt --model transformer --out DIR   # Chapter 7's
    charlm train WORDS.txt --model gru --members 3 --out DIR   # three GRUs, averaged
    charlm sample DIR -n 20 --temperature 0.8 --prefix ma
    charlm eval DIR [OTHER_WORDS.txt]

Give it a file with one word (a name, a place, anything) per line; it splits the words
80/10/10 as the book does (``random.seed(42)``; ``--split makemore``: makemore.py's test words,
Chapter 7), trains on the first part, keeps the model
with the best dev loss in ``DIR``, and makes more words like them. Every mistake in the
input gets one line on stderr and exit status 2, and leaves nothing written; so does a
checkpoint that cannot be written (a full disk), which keeps the one saved last. ``sample``
prints each word as it is made.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import NoReturn

import torch

from charlm import checkpoint as ckpt
from charlm import recipes
from charlm.bigram import BigramConfig
from charlm.data import MAKEMORE_SEED, build_dataset, load_words, makemore_split, split_words
from charlm.ensemble import Ensemble
from charlm.fetch import DataError
from charlm.optim import AdamWConfig
from charlm.sample import check_options, sample
from charlm.sequence import whole_words
from charlm.train import TrainConfig, evaluate, train
from charlm.vocab import BOUNDARY, Vocab

MIN_WORDS = 10  # the fewest words a split leaves a dev and a test word of
# how to split the words: the lectures' 80/10/10, or makemore.py's test words (Chapter 7)
SPLITS = {"lectures": split_words, "makemore": makemore_split}

# the models, each as the book trains it (charlm.recipes): Chapter 1's bigram, Chapter 3's
# MLP with BatchNorm, Chapter 5's WaveNet (on Chapter 6's kernels with its fast recipe), and
# Chapter 7's models that read a whole word and predict at every position
MODELS = {
    "bigram": lambda V, fast: BigramConfig(vocab_size=V),
    "mlp": lambda V, fast: replace(recipes.BATCHNORM_MLP, vocab_size=V),
    "wavenet": lambda V, fast: replace(
        recipes.FAST_WAVENET if fast else recipes.WAVENET, vocab_size=V
    ),  # fmt: skip
    "rnn": lambda V, fast: replace(recipes.RNN, vocab_size=V),
    "gru": lambda V, fast: replace(recipes.GRU, vocab_size=V),
    "transformer": lambda V, fast: replace(recipes.TRANSFORMER, vocab_size=V),
}
SEQUENCE_MODELS = ("rnn", "gru", "transformer")
LONGEST_CONTEXT = 32  # the sequence models read at most this many characters
# how to train: Chapter 6's fast recipe, or the lectures' SGD; the sequence models have
# Chapter 7's recipes only
RECIPES = {"fast": recipes.FAST, "lecture": recipes.LECTURE}
SEQUENCE_RECIPES = {"rnn": recipes.SEQUENCE, "gru": recipes.SEQUENCE,
                    "transformer": recipes.SEQUENCE_TRANSFORMER}  # fmt: skip


class UsageError(Exception):
    """A mistake in what the user asked for: reported in one line, exit status 2."""


def main(argv: list[str] | None = None) -> int:
    """Run the command; returns the exit status (0, or 2 for a mistake in the input)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    threads = torch.get_num_threads()
    try:
        return args.run(args)
    except (UsageError, DataError, ckpt.CheckpointError, ValueError) as error:
        print(f"charlm {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"charlm {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader stopped (`charlm sample -n 1000 | head`): stop too
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    finally:
        torch.set_num_threads(threads)  # called as a function, it leaves torch as it was


class Parser(argparse.ArgumentParser):
    """argparse, with a mistake on the command line said in one line (not the usage too)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="charlm",
        description="Train, sample and evaluate the charlm book's character-level models "
        "on a word list (one word per line, UTF-8).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = commands.add_parser("train", help="train a model on a word list")
    p.add_argument("words", type=Path, help="the word list: one word per line, UTF-8")
    p.add_argument("--model", choices=sorted(MODELS), default="wavenet", help="default: wavenet")
    p.add_argument("--out", type=Path, required=True, help="the checkpoint folder to write")
    fast, seq, lecture = recipes.FAST, recipes.SEQUENCE, recipes.LECTURE
    tf_steps = recipes.SEQUENCE_TRANSFORMER.steps
    p.add_argument("--recipe", choices=sorted(RECIPES),
                   help=f"fast: AdamW, batch {fast.batch_size}, cosine decay, {fast.steps:,} "
                   f"steps (Chapter 6; for rnn, gru and transformer: batch {seq.batch_size} "
                   f"words, {seq.steps:,} steps, the transformer {tf_steps:,}, Chapter 7); "
                   f"lecture: SGD, batch "
                   f"{lecture.batch_size}, {lecture.steps:,} steps (Chapter 5). Default: "
                   "fast, or the resumed run's")  # fmt: skip
    p.add_argument("--split", choices=sorted(SPLITS), default="lectures",
                   help="lectures: 80/10/10 after random.seed(42) (default); makemore: "
                   f"makemore.py's test words (torch.randperm after seed {MAKEMORE_SEED}, "
                   "10%% of the words, at most 1,000), dev as many of its training "
                   "words")  # fmt: skip
    p.add_argument("--steps", type=positive_int, help="optimisation steps (default: the recipe's)")
    p.add_argument("--seed", type=int, default=42, help="seed of the weights and batches (42)")
    p.add_argument("--members", type=positive_int, default=1,
                   help="train this many models, from seeds SEED, SEED+1, ..., and average "
                   "their predictions: an ensemble (Chapter 7; rnn, gru and transformer); "
                   "1")  # fmt: skip
    p.add_argument("--threads", type=positive_int, help="torch threads (default: torch's)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda", "mps"], default="auto",
                   help="auto: cuda or mps when present, else cpu")  # fmt: skip
    p.add_argument("--eval-every", type=positive_int, default=200,
                   help="steps between dev evaluations (the best model is kept); 200")  # fmt: skip
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out from its kept step (with a fresh optimizer "
                   "state)")  # fmt: skip
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="a progress bar (default: when stderr is a terminal)")  # fmt: skip
    p.set_defaults(run=run_train)

    p = commands.add_parser("sample", help="make new words with a trained model")
    p.add_argument("checkpoint", type=Path, help="a folder written by charlm train")
    p.add_argument("-n", type=positive_int, default=20, help="how many words (20)")
    p.add_argument("--temperature", type=float, default=1.0,
                   help="> 0; below 1 safer, above 1 wilder (1.0)")  # fmt: skip
    p.add_argument("--top-k", type=int, help="draw from the k likeliest characters only")
    p.add_argument("--prefix", default="", help="every word starts with these characters")
    p.add_argument("--seed", type=int, default=42, help="seed of the draws (42)")
    p.add_argument("--max-len", type=positive_int, default=50, help="longest word (50)")
    p.set_defaults(run=run_sample)

    p = commands.add_parser("eval", help="the loss of a trained model")
    p.add_argument("checkpoint", type=Path, help="a folder written by charlm train")
    p.add_argument("words", type=Path, nargs="?",
                   help="another word list (default: its train/dev/test split)")  # fmt: skip
    p.set_defaults(run=run_eval)
    return parser


def positive_int(text: str) -> int:
    """An argparse type: a whole number >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


# --- train -------------------------------------------------------------------------------


def run_train(args: argparse.Namespace) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    if args.resume and args.members > 1:
        raise UsageError("--members with --resume: an ensemble trains in one go; train a new "
                         "one into another folder")  # fmt: skip
    if args.resume:  # the run in --out: its model, words and recipe, from its kept step
        kept = ckpt.load(args.out)
        if kept.members > 1:
            raise UsageError(f"--resume: {args.out} holds an ensemble, which trains in one go")
        kind, config, vocab, split, log = kept.kind, kept.config, kept.vocab, kept.split, kept.log
        recipe = with_steps(recipe_for(kind, args.recipe or log["recipe"]),
                            args.steps or log["total"])  # fmt: skip
        start = log["step"]
        kept_checks = log["steps"].index(start) + 1  # forget the checks after the kept step
        log = {**log, **{k: log[k][:kept_checks] for k in ("steps", "seconds", "train", "dev")}}
    else:
        check_out_folder(args.out)
        if args.members > 1 and args.model not in SEQUENCE_MODELS:
            raise UsageError(f"--members {args.members}: only the rnn, gru and transformer "
                             f"models are averaged, not {args.model}")  # fmt: skip
        words = load_words(args.words)
        kind, vocab = args.model, vocab_for(words, args.words)
        split = SPLITS[args.split](words)
        config = MODELS[kind](len(vocab), (args.recipe or "fast") == "fast")
        if kind in SEQUENCE_MODELS:  # a context that holds the longest word and its start
            longest = max(len(w) for w in words) + 1
            config = replace(config, block_size=min(max(config.block_size, longest),
                                                    LONGEST_CONTEXT))  # fmt: skip
        recipe = recipe_for(kind, args.recipe or "fast")
        recipe = with_steps(recipe, args.steps) if args.steps else recipe
        log = {"steps": [], "seconds": [], "train": [], "dev": [], "best_dev": math.inf, "step": 0,
               "split": args.split}  # fmt: skip
        start = 0
    if start >= recipe.steps:
        raise UsageError(f"{args.out} has trained all {recipe.steps:,} steps: give more --steps")
    check_writable(args.out)  # now, not after training
    log.update(recipe=args.recipe or log.get("recipe", "fast"), total=recipe.steps, seed=args.seed)
    data = {name: build_dataset(getattr(split, name), vocab, config.block_size)
            for name in ("train", "dev", "test")}  # fmt: skip
    if kind in SEQUENCE_MODELS:  # one row per word, all of its characters predicted at once
        data["train"] = whole_words(*data["train"])
    data = {name: (X.to(device), Y.to(device)) for name, (X, Y) in data.items()}
    if args.members > 1:
        template = ckpt.Checkpoint(kind, config, vocab, split, {}, log, members=args.members)
        return train_ensemble(template, data, recipe, args.seed, args.out, args.progress, device)
    g = torch.Generator().manual_seed(args.seed)
    model = config.build(g).to(device)
    if args.resume:
        model.load_state_dict(kept.state["model"])
        g.set_state(kept.state["generator"])
    template = ckpt.Checkpoint(kind, config, vocab, split, kept.state if args.resume else {}, log)
    keeper = Keeper(args.out, template, data["dev"], g, recipe.steps, args.eval_every, start,
                    args.progress)  # fmt: skip
    try:
        train(model, *data["train"], Remaining(recipe, start), g, hooks=[keeper])
    finally:
        keeper.close()
    best = ckpt.load(args.out)
    test = evaluate(best.model(device), *data["test"])  # the one split not seen until now
    split_name = log.get("split", "lectures")  # (runs saved before --split: the lectures')
    print(f"kept step {best.log['step']:,} of {recipe.steps:,} in {args.out}: "
          f"dev {best.log['best_dev']:.4f}, test {test:.4f} "
          f"({len(split.test):,} test words, the {split_name} split)")  # fmt: skip
    return 0


def train_ensemble(template: ckpt.Checkpoint, data, recipe: TrainConfig | AdamWConfig, seed: int,
                   out: Path, progress: bool | None, device: torch.device) -> int:  # fmt: skip
    """``--members K``: K models of one config trained one after another, from seeds ``seed``,
    ``seed + 1``, ..., each to the end of its recipe, then saved once as one ensemble whose
    predictions are their mean (Chapter 7). Its dev and test losses are the ensemble's."""
    K, config, split = template.members, template.config, template.split
    members, seconds, last_losses = [], 0.0, []
    for k in range(K):
        g = torch.Generator().manual_seed(seed + k)  # as a single run with --seed seed + k
        model = config.build(g).to(device)
        bar = Bar(recipe.steps, progress, f"model {k + 1} of {K}")
        try:
            result = train(model, *data["train"], recipe, g, hooks=[bar])
        finally:
            bar.close()
        seconds += result.seconds
        last_losses += result.losses[-200:]
        dev = evaluate(model, *data["dev"])
        print(f"model {k + 1} of {K} (seed {seed + k}): dev {dev:.4f} after {result.seconds:.0f} s",
              flush=True)  # fmt: skip
        members.append(model.eval())
    ensemble = Ensemble(members)
    dev = evaluate(ensemble, *data["dev"])
    train_loss = sum(last_losses) / len(last_losses)  # the members' last steps' batches
    log = {**template.log, "steps": [recipe.steps], "seconds": [seconds], "step": recipe.steps,
           "train": [train_loss], "dev": [dev], "best_dev": dev}  # fmt: skip
    state = {"model": {k: v.detach().cpu() for k, v in ensemble.state_dict().items()}}
    ckpt.save(replace(template, state=state, log=log), out)
    test = evaluate(ensemble, *data["test"])  # the one split not seen until now
    print(f"{K} models of {recipe.steps:,} steps, averaged, in {out}: dev {dev:.4f}, test "
          f"{test:.4f} ({len(split.test):,} test words, the {log['split']} split); "
          f"{seconds:.0f} s of training")  # fmt: skip
    return 0


class Bar:
    """A training hook: a progress bar of ``total`` steps, or nothing (``progress`` as for
    ``charlm train --progress``: by default when stderr is a terminal)."""

    def __init__(self, total: int, progress: bool | None, title: str | None = None,
                 initial: int = 0) -> None:  # fmt: skip
        self.bar = None
        if progress or (progress is None and sys.stderr.isatty()):
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, initial=initial, desc=title, unit="step",
                            mininterval=0.5)  # fmt: skip

    def __call__(self, step: int, model: torch.nn.Module, loss: torch.Tensor, lr: float) -> bool:
        if self.bar is not None:
            self.bar.update(1)
        return False

    def show(self, **values: str) -> None:
        """Values beside the bar, e.g. the last losses."""
        if self.bar is not None:
            self.bar.set_postfix(**values)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


@dataclass(frozen=True)
class Remaining:
    """The steps of ``recipe`` from step ``start`` on, a training config of their own: its
    learning rate follows the whole recipe (a resumed run goes on where it stopped)."""

    recipe: TrainConfig | AdamWConfig  # the whole run's recipe
    start: int  # the steps already trained

    @property
    def steps(self) -> int:
        return self.recipe.steps - self.start

    @property
    def batch_size(self) -> int | None:
        return self.recipe.batch_size

    def lr_at(self, step: int) -> float:
        return self.recipe.lr_at(self.start + step)

    def make_step(self, model: torch.nn.Module):
        return self.recipe.make_step(model)


class Keeper:
    """A training hook: every ``every`` steps the dev loss, a progress line, and the model
    saved into ``out`` whenever its dev loss is the best so far."""

    def __init__(self, out: Path, template: ckpt.Checkpoint, dev, generator, total: int,
                 every: int, start: int, progress: bool | None) -> None:  # fmt: skip
        self.out, self.template, self.dev, self.generator = out, template, dev, generator
        self.log = template.log
        self.total, self.every, self.start = total, every, start
        self.recent: list[torch.Tensor] = []  # the batch losses since the last check
        self.clock: float | None = None  # set when the first step is done: training time only
        self.best = template.state  # the state of the best model so far (resumed: the kept)
        self.bar = Bar(total, progress, initial=start)

    def __call__(self, step: int, model: torch.nn.Module, loss: torch.Tensor, lr: float) -> bool:
        if self.clock is None:  # a resumed run goes on counting from its last check
            self.clock = time.perf_counter() - (self.log["seconds"] or [0.0])[-1]
        self.recent.append(loss.detach())
        done = self.start + step + 1
        self.bar(step, model, loss, lr)
        if done % self.every == 0 or done == self.total:
            self.check(model, done)
        return False

    def check(self, model: torch.nn.Module, done: int) -> None:
        running = torch.stack(self.recent).mean().item()
        self.recent.clear()
        dev = evaluate(model, *self.dev)
        self.log["steps"].append(done)
        self.log["seconds"].append(time.perf_counter() - self.clock)  # training time so far
        self.log["train"].append(running)
        self.log["dev"].append(dev)
        self.bar.show(loss=f"{running:.4f}", dev=f"{dev:.4f}")
        if dev < self.log["best_dev"]:
            self.log.update(best_dev=dev, step=done)
            self.best = {"model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
                         "generator": self.generator.get_state()}  # fmt: skip
        # the best model so far, with the whole log (its later, worse checks included)
        ckpt.save(replace(self.template, state=self.best, log=dict(self.log)), self.out)

    def close(self) -> None:
        self.bar.close()


def pick_device(name: str) -> torch.device:
    """``auto``: CUDA, else Apple's MPS, else the CPU; a named device must be present."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: torch sees no CUDA device here")
    if name == "mps" and not torch.backends.mps.is_available():
        raise UsageError("--device mps: torch sees no MPS device here")
    return torch.device(name)


def check_out_folder(out: Path) -> None:
    """``--out`` must be new, empty, or left by charlm: nothing else is overwritten."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file, not a folder")
    if ckpt.is_checkpoint(out):
        raise UsageError(f"--out {out} already holds a checkpoint: add --resume to continue "
                         "it, or choose another folder")  # fmt: skip
    if out.is_dir() and any(out.iterdir()):
        raise UsageError(f"--out {out} is a folder with other files in it: choose a new one")


def check_writable(out: Path) -> None:
    """``--out`` can be written: a folder made and a file written there now (then removed
    again), so a folder that cannot be written is refused before training, not after."""
    made = []
    try:
        for folder in [*reversed(out.parents), out]:
            if folder.exists() and not folder.is_dir():
                raise UsageError(f"--out {out} cannot be written: {folder} is a file")
            if not folder.is_dir():
                folder.mkdir()
                made.append(folder)
        probe = out / f".charlm-write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise UsageError(f"--out {out} cannot be written: {error.strerror or error}") from None
    finally:
        for folder in reversed(made):
            folder.rmdir()


def vocab_for(words: list[str], path: Path) -> Vocab:
    """The words' vocabulary: ``.`` marks their ends unless they use it, then a newline."""
    if len(words) < MIN_WORDS:
        raise UsageError(
            f"{path} has {len(words)} word(s); a train/dev/test split needs at least {MIN_WORDS}"
        )
    uses_dot = any(BOUNDARY in w for w in words)
    return Vocab.from_words(words, boundary="\n" if uses_dot else BOUNDARY)


def recipe_for(kind: str, name: str) -> TrainConfig | AdamWConfig:
    """The recipe ``name`` for a model ``kind``: the sequence models have only their own."""
    if kind in SEQUENCE_MODELS:
        if name != "fast":
            raise UsageError(f"--recipe {name}: the {kind} model trains with its own recipe "
                             "only (leave --recipe out)")  # fmt: skip
        return SEQUENCE_RECIPES[kind]
    return RECIPES[name]


def with_steps(recipe: TrainConfig | AdamWConfig, steps: int) -> TrainConfig | AdamWConfig:
    """The recipe over ``steps`` steps; a step schedule decays at the same fraction."""
    if getattr(recipe, "decay_step", None) is None:
        return replace(recipe, steps=steps)
    decay = max(1, round(recipe.decay_step * steps / recipe.steps))
    return replace(recipe, steps=steps, decay_step=min(decay, steps))


# --- sample and eval -------------------------------------------------------------------------


def run_sample(args: argparse.Namespace) -> int:
    check_options(args.temperature, args.top_k)
    state = ckpt.load(args.checkpoint)
    try:
        state.vocab.encode(args.prefix)
        if state.vocab.boundary in args.prefix:
            raise ValueError(f"{state.vocab.boundary!r} marks a word's end, not its start")
    except ValueError as error:
        raise UsageError(f"--prefix {args.prefix!r}: {error}") from None
    model, g = state.model(), torch.Generator().manual_seed(args.seed)
    train, held_out = set(state.split.train), set(state.split.dev) | set(state.split.test)
    counts = {"new": 0, "in train": 0, "in dev/test": 0}
    for _ in range(args.n):  # one word at a time, printed as it is made: -n can be large
        # (the generator carries on from word to word: the same words as sampling n at once)
        (word,) = sample(model, state.vocab, 1, g, args.max_len, temperature=args.temperature,
                         top_k=args.top_k, prefix=args.prefix)  # fmt: skip
        where = "in train" if word in train else "in dev/test" if word in held_out else "new"
        counts[where] += 1
        print(f"{where:<12} {word}", flush=True)
    print(", ".join(f"{n} {where}" for where, n in counts.items()))
    return 0


def run_eval(args: argparse.Namespace) -> int:
    state = ckpt.load(args.checkpoint)
    model = state.model()
    if args.words is None:
        sets = {name: getattr(state.split, name) for name in ("train", "dev", "test")}
    else:
        sets = {str(args.words): load_words(args.words)}
        if not sets[str(args.words)]:
            raise UsageError(f"{args.words} has no words")
    for name, words in sets.items():
        try:
            X, Y = build_dataset(words, state.vocab, state.config.block_size)
        except ValueError as error:
            raise UsageError(f"{name}: {error}") from None
        print(f"{name}: {evaluate(model, X, Y):.4f} ({len(words):,} words)")
    return 0


def run_command(*args: object, cwd: str | Path | None = None) -> str:
    """What ``charlm ARGS`` prints, run in ``cwd`` as its own process, as a user runs it
    (the book's page on the command); a non-zero exit raises ``CalledProcessError``."""
    import subprocess

    command = [sys.executable, "-m", "charlm", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, check=True, cwd=cwd).stdout


if __name__ == "__main__":
    sys.exit(main())
