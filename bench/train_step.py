"""Per-step time of the lectures' training loop, ``charlm.train.train``: the build's yardstick.

The Chapter 2 MLP on the lecture's training set, batch 32, the lectures' SGD, one thread;
``--steps`` steps, ``--repeats`` times, the minimum and median reported. (That this loop
reproduces a lecture's loop written out line by line, bit for bit, is a test:
``tests/test_train.py``.) ``bench/build.py`` scales build times by it. Writes the figures to
``_build/bench/train_step.json``. Run by ``make bench``.
"""

from __future__ import annotations

import argparse

import torch
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


def lecture_loop(X, Y, steps: int, batch_size: int) -> tuple[float, list[float]]:
    """``steps`` steps of the lectures' loop on a fresh Chapter 2 MLP: (seconds, losses)."""
    g = torch.Generator().manual_seed(lectures.SEED)
    model = MLPConfig().build(g)
    config = TrainConfig(
        steps=steps, batch_size=batch_size, lr=0.1, decay_step=steps // 2, lr_final=0.01
    )
    result = train(model, X, Y, config, generator=g)
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
    times = [
        1e3 * lecture_loop(X, Y, args.steps, args.batch_size)[0] / args.steps
        for _ in range(args.repeats)
    ]
    meta = {
        "steps": args.steps,
        "batch_size": args.batch_size,
        "repeats": args.repeats,
        "threads": torch.get_num_threads(),
    }
    write_report(args.out, meta, {"lecture loop": times})


if __name__ == "__main__":
    main()
