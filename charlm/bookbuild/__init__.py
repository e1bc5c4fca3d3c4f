"""Machinery used only while the book builds: it makes the build fast and never stale.

Nothing here is a lesson, and nothing here changes a number the book computes. Readers of
the book can skip this subpackage: no teaching module imports it. It plugs itself in from
outside when a chapter's kernel starts:

- ``seam``     -- sets ``charlm.train.watch`` (the core budget and progress around every
  training loop) and ``charlm.timing.quiet`` (``quiet``), and wraps
  ``charlm.runs.fit``/``fit_all`` with the run cache; Python runs
  it at startup in the build's kernels (``startup/sitecustomize.py``, on their PYTHONPATH)
- ``cores``    -- a machine-wide budget of CPU cores: chapters executing side by side take
  turns to train, the largest job first
- ``runcache`` -- finished training runs stored under a key of everything they depend on,
  so a chapter re-executed for a plotting change, or a later chapter, does not retrain
- ``records``  -- each chapter's headline result, written as JSON for the results page,
  and its headline model, exported (``charlm.export``) for the sampler page
- ``progress`` -- each training loop's steps done, written for the build to show in a
  terminal
- ``quiet``    -- a timing with the machine to itself: every other process of the build
  paused while it runs (``charlm.timing.quiet``)
- ``digest``   -- fingerprints of source code without docstrings or comments, and the
  parser of imports behind them (the run cache's key, the book's execution extension
  ``book/_ext/execution.py`` and the package's layout test use it)

The core budget, the run cache, the records and the progress reports are each switched
on by one environment variable, named below and set by the book's build
(``book/_ext/execution.py``) to a folder inside ``_build``. With the variables unset, as
everywhere outside the build, ``cores`` waits for nothing, ``seam.install`` changes
nothing and ``record_result`` writes nothing. Only ``seam`` (to plug into them) and
``records`` (to export and sample a model) import charlm's teaching modules; none of them
imports this subpackage. Its line of the package's map (``charlm/__init__.py`` draws the
rest):

    bookbuild -> train, runs, timing, export, sample, vocab
"""

from __future__ import annotations

import os
from pathlib import Path

CORES_ENV = "CHARLM_CORES"  # folder of the core budget's lock files
RUN_CACHE_ENV = "CHARLM_RUN_CACHE"  # folder of finished training runs
RESULTS_ENV = "CHARLM_RESULTS"  # folder of the chapters' result records (and page timings)
PROGRESS_ENV = "CHARLM_PROGRESS"  # folder where training loops report their progress
SITE_ENV = "CHARLM_SITE"  # folder of files pages publish into the site (records.publish)
PAGE_ENV = "CHARLM_PAGE"  # the page a kernel executes (set per kernel by the build)
BUILD_PID_ENV = "CHARLM_BUILD_PID"  # the build's process: its descendants are paused to time
# the folder whose sitecustomize.py plugs the build into charlm in every kernel (seam.py)
STARTUP = Path(__file__).resolve().parent / "startup"


def kernel_environment(environ: dict[str, str]) -> dict[str, str]:
    """``environ`` with ``STARTUP`` first on ``PYTHONPATH``: a kernel's, while the book builds."""
    paths = [str(STARTUP), *filter(None, environ.get("PYTHONPATH", "").split(os.pathsep))]
    return {**environ, "PYTHONPATH": os.pathsep.join(dict.fromkeys(paths))}


def build_environment(build: Path) -> dict[str, str]:
    """The variables the book's build sets, each naming a folder inside ``build``."""
    return {
        CORES_ENV: str(build / "cores"),
        RUN_CACHE_ENV: str(build / "runs"),
        RESULTS_ENV: str(build / "results"),
        PROGRESS_ENV: str(build / "progress"),
        SITE_ENV: str(build / "published"),
    }
