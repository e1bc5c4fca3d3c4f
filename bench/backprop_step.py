"""Per-step time of Chapter 4's hand-written gradients against autograd on the same network.

Both run ``train_manual``'s loop on the 12,297-parameter network (hidden 200, batch 32,
float32, one thread), differing only in how a batch's gradients are computed:
``manual_step`` (fused cross-entropy and BatchNorm backward, vectorised embedding
gradient) or ``autograd_step`` (the same forward, then ``loss.backward()``). Each runs
``--steps`` steps, ``--repeats`` times, alternating; minimum and median are reported.
Writes ``_build/bench/backprop_step.json``. Run by ``make bench``.
"""

from __future__ import annotations

import argparse

import torch
from _report import write_report

from charlm import lectures
from charlm.backprop import (
    BackpropConfig,
    ManualMLP,
    autograd_step,
    init_params,
    manual_step,
    train_manual,
)
from charlm.data import build_dataset, load_names, split_words
from charlm.train import TrainConfig
from charlm.vocab import Vocab


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default="_build/bench/backprop_step.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    words = load_names()
    X, Y = build_dataset(split_words(words).train, Vocab.from_words(words), 3)
    config = TrainConfig(steps=args.steps, batch_size=32, lr=0.1)

    times: dict[str, list[float]] = {"manual": [], "autograd": []}
    for _ in range(args.repeats):
        for name, step in (("manual", manual_step), ("autograd", autograd_step)):
            g = torch.Generator().manual_seed(lectures.SEED)
            model = ManualMLP(init_params(BackpropConfig(n_hidden=200), g))
            result = train_manual(model, X, Y, config, g, step=step)
            times[name].append(1e3 * result.seconds / args.steps)
    meta = {
        "steps": args.steps,
        "repeats": args.repeats,
        "threads": torch.get_num_threads(),
    }
    write_report(args.out, meta, times, ("manual", "autograd"))


if __name__ == "__main__":
    main()
