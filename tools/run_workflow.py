"""Run one job of a GitHub Actions workflow here, step by step: the closest local check of it.

    python3 tools/run_workflow.py .github/workflows/pages.yml --job build \\
        --replace "Install torch (CPU build)=make venv"

Meant for a fresh clone, run from its root (CI runs it there, without internet). Each
``run:`` step runs in order, in the current directory, with
``bash --noprofile --norc -euo pipefail`` (the shell the workflows set as their default) and
the workflow's, the job's and the step's ``env:``. ``${{ ... }}`` expressions in ``run:``
and ``env:`` become empty strings unless given, as written between the braces, with
``--env EXPR=VALUE`` (``--env steps.pages.outputs.base_url=https://example.org/charlm``).
``uses:`` steps (checkout, caches, Pages) are skipped, each with a line saying which, and
``if:`` conditions are not evaluated. A step may set variables for the steps after it by
appending ``NAME=VALUE`` lines to the file ``$GITHUB_ENV`` names, as on GitHub. A step
that needs the internet can be replaced:
``--replace "STEP NAME=COMMAND"``. One line per step with its name and duration; the first
failing step stops the run, and its exit status is this script's. ``--dry-run`` lists what
would run. This is not GitHub's runner: no container, no actions, no caches.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

SHELL = ("bash", "--noprofile", "--norc", "-euo", "pipefail", "-c")
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


def resolve(text: str, values: dict[str, str]) -> str:
    """``text`` with each ``${{ expr }}`` replaced by ``values[expr]``, or by nothing."""
    return EXPRESSION.sub(lambda m: values.get(m.group(1), ""), str(text))


def step_name(step: dict) -> str:
    """The name GitHub shows: ``name:``, else ``Run`` and the first line of the command."""
    if "name" in step:
        return str(step["name"])
    if "run" in step:
        return "Run " + str(step["run"]).strip().splitlines()[0]
    return str(step.get("uses", "?"))


def pairs(items: list[str], what: str) -> dict[str, str]:
    """``["A=1", "B=x=y"]`` -> ``{"A": "1", "B": "x=y"}``: split at the first ``=``."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            sys.exit(f"run_workflow: {what} wants NAME=VALUE, got {item!r}")
        out[key] = value
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("workflow", type=Path)
    parser.add_argument("--job", help="the job to run (needed when the workflow has several)")
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="EXPR=VALUE",
        help="the value of ${{ EXPR }} (unknown expressions are empty)",
    )
    parser.add_argument(
        "--replace",
        action="append",
        default=[],
        metavar="STEP NAME=COMMAND",
        help="run COMMAND instead of the step named STEP NAME",
    )
    parser.add_argument("--dry-run", action="store_true", help="list what would run")
    args = parser.parse_args(argv)

    workflow = yaml.safe_load(args.workflow.read_text())
    jobs = workflow["jobs"]
    if args.job is None and len(jobs) != 1:
        parser.error(f"--job is needed: {', '.join(jobs)}")
    job_id = args.job or next(iter(jobs))
    if job_id not in jobs:
        parser.error(f"no job {job_id!r} in {args.workflow}: {', '.join(jobs)}")
    job = jobs[job_id]
    values = pairs(args.env, "--env")
    replace = pairs(args.replace, "--replace")
    steps = job["steps"]
    unknown = set(replace) - {step_name(s) for s in steps}
    if unknown:
        parser.error(f"--replace names no step of job {job_id}: {', '.join(sorted(unknown))}")
    shared_env = {**(workflow.get("env") or {}), **(job.get("env") or {})}

    container = job.get("container")
    where = f" (here, not in its container {container})" if container else ""
    print(f"run_workflow: {args.workflow} job {job_id}, {len(steps)} steps{where}", flush=True)
    with tempfile.TemporaryDirectory(prefix="run-workflow-") as tmp:
        exports = Path(tmp) / "github_env"
        exports.touch()
        return run_steps(steps, args.dry_run, values, replace, shared_env, exports)


def exported(path: Path) -> dict[str, str]:
    """The ``NAME=VALUE`` lines steps appended to ``$GITHUB_ENV`` (later ones win)."""
    return pairs([line for line in path.read_text().splitlines() if line.strip()], "GITHUB_ENV")


def run_steps(
    steps: list[dict],
    dry_run: bool,
    values: dict[str, str],
    replace: dict[str, str],
    shared_env: dict,
    exports: Path,
) -> int:
    """Run (or list) every step in order; the first failure's exit status, else 0."""
    for number, step in enumerate(steps, 1):
        name = step_name(step)
        head = f"[{number}/{len(steps)}] {name}"
        if "run" not in step:
            print(f"{head}: skipped (uses: {step.get('uses')})", flush=True)
            continue
        command = replace.get(name, step["run"])
        command = resolve(command, values)
        env = {k: resolve(v, values) for k, v in {**shared_env, **(step.get("env") or {})}.items()}
        cwd = Path(step.get("working-directory", "."))
        note = " (replaced)" if name in replace else ""
        if "if" in step:
            note += f" (if: {step['if']} not evaluated)"
        if dry_run:
            print(f"{head}: would run{note}", flush=True)
            for key, value in env.items():
                print(f"    env {key}={value}")
            for line in command.strip().splitlines():
                print(f"    $ {line}")
            continue
        print(f"{head}: running{note}", flush=True)
        start = time.monotonic()
        env = {**os.environ, **exported(exports), **env, "GITHUB_ENV": str(exports)}
        status = subprocess.run([*SHELL, command], cwd=cwd, env=env).returncode
        seconds = time.monotonic() - start
        if status < 0:  # killed by a signal: the status a shell would report
            status = 128 - status
        if status != 0:
            print(f"{head}: FAILED with exit status {status} after {seconds:.1f} s", flush=True)
            return status
        print(f"{head}: ok in {seconds:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
