"""Per-step time of charlm's training loop against a plain lecture-style loop.

Same model (the Chapter 2 MLP), same data, same seeds, one thread; each loop runs
``--steps`` steps, ``--repeats`` times, alternating, and the minimum and median are
reported. Both loops also produce bit-identical losses, which is checked.
Writes the figures to ``_build/bench/train_step.json``. Run by ``make bench``.
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F
from _report import write_report

from charlm import lectures
from charlm.data import build_dataset, load_names, split_words
from charlm.models import MLPConfig
from charlm.train import TrainConfig, train
from charlm.vocab import Vocab


def lecture_data() -> tuple[torch.Tensor, torch.Tensor]:
    """The Chapter 2 training set: contexts of three characters, the lecture split."""
    words = load_names()
    return build_dataset(split_words(words).train, Vocab.from_words(words), 3)


def plain_loop(X, Y, steps: int, batch_size: int) -> tuple[float, list[float]]:
    """The lecture's loop, written out: returns (seconds, losses)."""
    g = torch.Generator().manual_seed(lectures.SEED)
    model = MLPConfig().build(g)
    parameters = list(model.parameters())
    lossi = []
    start = time.perf_counter()
    for i in range(steps):
        ix = torch.randint(0, X.shape[0], (batch_size,), generator=g)
        loss = F.cross_entropy(model(X[ix]), Y[ix])
        for p in parameters:
            p.grad = None
        loss.backward()
        lr = 0.1 if i < steps // 2 else 0.01
        for p in parameters:
            p.data += -lr * p.grad
        lossi.append(loss.item())
    return time.perf_counter() - start, lossi


def charlm_loop(X, Y, steps: int, batch_size: int) -> tuple[float, list[float]]:
    g = torch.Generator().manual_seed(lectures.SEED)
    model = MLPConfig().build(g)
    config = TrainConfig(
        steps=steps, batch_size=batch_size, lr=0.1, decay_step=steps // 2, lr_final=0.01
    )
    result = train(model, X, Y, config, generator=g, progress=False)
    return result.seconds, result.losses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--out", default="_build/bench/train_step.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    X, Y = lecture_data()

    times: dict[str, list[float]] = {"plain": [], "charlm": []}
    for _ in range(args.repeats):
        for name, loop in (("plain", plain_loop), ("charlm", charlm_loop)):
            seconds, losses = loop(X, Y, args.steps, args.batch_size)
            times[name].append(1e3 * seconds / args.steps)
            if name == "plain":
                reference = losses
            elif losses != reference:
                raise SystemExit("charlm's loop did not reproduce the plain loop's losses")
    meta = {
        "steps": args.steps,
        "batch_size": args.batch_size,
        "repeats": args.repeats,
        "threads": torch.get_num_threads(),
        "identical_losses": True,
    }
    write_report(args.out, meta, times, ("charlm", "plain"))


if __name__ == "__main__":
    main()
