"""How fast ``charlm train`` reaches a dev loss on names.txt: 2.00 with the WaveNet (default).

Runs the command as a user would (``charlm train data/names.txt --model wavenet``, the
default fast recipe, both cores), then reads its training log: the training time at the
first dev evaluation at or below ``--target`` (the time of the checks before it included).
``make bench`` also runs it as ``--model gru --target 1.96`` (Chapter 7), and as ``--model gru
--members 3 --split makemore`` (three GRUs averaged, on makemore.py's split): then it also
reports the test loss the command printed on makemore's test words, and the training time
over makemore.py's time to its best test loss (``charlm.lectures``; makemore.py is not on a
package registry, so its figures are the ones measured beside charlm on this machine). The plain
lecture loop of ``train_step.py`` is timed before and after, and the figure is also
reported scaled to the reference speed (x 0.30 ms / the loop's median ms/step), as
``build.py`` does. Writes
``_build/bench/cli_train.json``. Run by ``make bench``.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from build import REFERENCE_MS, yardstick  # the reference speed and its yardstick, once

from charlm import lectures

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", type=float, default=2.00, help="dev loss to reach")
    parser.add_argument("--model", default="wavenet", help="the --model of charlm train")
    parser.add_argument("--eval-every", type=int, default=200, help="steps between dev checks")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--members", type=int, default=1, help="the --members of charlm train")
    parser.add_argument("--split", default="lectures", help="the --split of charlm train")
    parser.add_argument("--out", default="_build/bench/cli_train.json")
    args = parser.parse_args()
    loop_ms = yardstick()
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        printed = subprocess.run(
            [sys.executable, "-m", "charlm", "train", str(ROOT / "data" / "names.txt"),
             "--model", args.model, "--out", str(run), "--threads", str(args.threads),
             "--eval-every", str(args.eval_every), "--members", str(args.members),
             "--split", args.split, "--no-progress"],
            check=True, capture_output=True, text=True,
        ).stdout  # fmt: skip
        print(printed, end="")
        manifest = json.loads((run / "checkpoint.json").read_text())
    loop_ms += yardstick()
    log = manifest["log"]
    reached = [(s, t, d) for s, t, d in zip(log["steps"], log["seconds"], log["dev"])
               if d <= args.target]  # fmt: skip
    median = statistics.median(loop_ms)
    test = float(re.search(r"test (\d+\.\d+)", printed)[1])  # the command's last line
    report = {
        "model": args.model,
        "members": args.members,
        "split": args.split,
        "test": test,
        "target_dev": args.target,
        "threads": args.threads,
        "reached": None
        if not reached
        else {"step": reached[0][0], "seconds": reached[0][1], "dev": reached[0][2]},  # fmt: skip
        "best_dev": log["best_dev"],
        "total_seconds": log["seconds"][-1],
        "plain_loop_ms_per_step": {"runs": loop_ms, "median": median},
        "scale": REFERENCE_MS / median,
    }
    if args.split == "makemore":  # makemore.py's own time to its best test loss, beside ours
        report["makemore_py"] = {"test": lectures.MAKEMORE_PY_BEST_TEST,
                                 "seconds": lectures.MAKEMORE_PY_BEST_SECONDS}  # fmt: skip
        report["time_over_makemore_py"] = log["seconds"][-1] / lectures.MAKEMORE_PY_BEST_SECONDS
    out = ROOT / args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    k = report["scale"]
    if reached:
        step, seconds, dev = reached[0]
        print(f"dev {dev:.4f} <= {args.target} at step {step:,}, after {seconds:.1f} s "
              f"(scaled to {REFERENCE_MS} ms/step: {seconds * k:.1f} s)")  # fmt: skip
    else:
        print(f"dev never reached {args.target} (best {log['best_dev']:.4f})")
    if "makemore_py" in report:
        print(f"test {test:.4f} on makemore's test words against makemore.py's best "
              f"{lectures.MAKEMORE_PY_BEST_TEST} after {lectures.MAKEMORE_PY_BEST_SECONDS} s: "
              f"{report['time_over_makemore_py']:.2f} times its time")  # fmt: skip
    print(f"the whole run: {log['seconds'][-1]:.1f} s (scaled {log['seconds'][-1] * k:.1f} s); "
          f"plain loop {median:.3f} ms/step; written to {args.out}")  # fmt: skip


if __name__ == "__main__":
    main()
