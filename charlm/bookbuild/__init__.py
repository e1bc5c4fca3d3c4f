"""Machinery used only while the book builds: it makes the build fast and never stale.

Nothing here is a lesson, and nothing here changes a number the book computes. Readers of
the book can skip this subpackage; the teaching modules touch it in one line each.

- ``cores``    -- a machine-wide budget of CPU cores: chapters executing side by side take
  turns to train, the largest job first (``train`` and ``backprop`` take their cores here)
- ``runcache`` -- finished training runs stored under a key of everything they depend on,
  so a chapter re-executed for a plotting change, or a later chapter, does not retrain
  (``runs.fit`` is wrapped by it)
- ``records``  -- each chapter's headline result, written as JSON for the results page
- ``progress`` -- each training loop's steps done, written for the build to show in a
  terminal (``train``'s progress bar becomes a reporter while the book builds)
- ``digest``   -- fingerprints of source code without docstrings or comments, and the
  parser of imports behind them (the run cache's key, the book's execution extension
  ``book/_ext/execution.py`` and the package's layout test use it)

The core budget, the run cache, the records and the progress reports are each switched
on by one environment variable, named below and set by the book's build
(``book/_ext/execution.py``) to a folder inside ``_build``. With the variables unset, as
everywhere outside the build, ``training_cores`` waits for nothing, ``fit`` always trains,
``record_result`` writes nothing and no progress is reported. This subpackage imports
nothing from charlm's teaching modules.
"""

from __future__ import annotations

from pathlib import Path

CORES_ENV = "CHARLM_CORES"  # folder of the core budget's lock files
RUN_CACHE_ENV = "CHARLM_RUN_CACHE"  # folder of finished training runs
RESULTS_ENV = "CHARLM_RESULTS"  # folder of the chapters' result records (and page timings)
PROGRESS_ENV = "CHARLM_PROGRESS"  # folder where training loops report their progress
PAGE_ENV = "CHARLM_PAGE"  # the page a kernel executes (set per kernel by the build)


def build_environment(build: Path) -> dict[str, str]:
    """The variables the book's build sets, each naming a folder inside ``build``."""
    return {
        CORES_ENV: str(build / "cores"),
        RUN_CACHE_ENV: str(build / "runs"),
        RESULTS_ENV: str(build / "results"),
        PROGRESS_ENV: str(build / "progress"),
    }
