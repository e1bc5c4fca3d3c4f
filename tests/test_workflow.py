"""The GitHub Pages workflow builds what CI builds, the same way, and publishes the result."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW = ROOT / ".github" / "workflows" / "pages.yml"
CI = ROOT / ".ci" / "run"


def make_targets(lines: list[str]) -> list[str]:
    """The target of every line that runs ``make``, in order (``make VAR=x book`` -> book)."""
    targets = []
    for line in lines:
        words = line.strip().split()
        if words[:1] == ["make"]:
            rest = [w for w in words[1:] if "=" not in w and not w.startswith("-")]
            targets += rest[:1]
    return targets


def is_subsequence(needles: list[str], haystack: list[str]) -> bool:
    rest = iter(haystack)
    return all(item in rest for item in needles)


@pytest.fixture(scope="module")
def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


@pytest.fixture(scope="module")
def steps(workflow: dict) -> list[dict]:
    return [step for job in workflow["jobs"].values() for step in job["steps"]]


def uses(steps: list[dict], action: str) -> list[dict]:
    """The steps that use ``action`` (any version)."""
    return [s for s in steps if s.get("uses", "").split("@")[0] == action]


def test_triggers_and_jobs(workflow: dict) -> None:
    on = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    assert "main" in on["push"]["branches"]
    assert "workflow_dispatch" in on
    assert workflow["jobs"], "no jobs"
    for name, job in workflow["jobs"].items():
        assert job["runs-on"] == "ubuntu-latest", name
        assert job["steps"], f"job {name} has no steps"
        assert all("uses" in s or "run" in s for s in job["steps"]), name


def test_python_311(steps: list[dict]) -> None:
    setup = uses(steps, "actions/setup-python")
    assert [str(s["with"]["python-version"]) for s in setup] == ["3.11"]


def test_runs_the_ci_make_targets_in_order(steps: list[dict]) -> None:
    ci = make_targets(CI.read_text().splitlines())
    assert ci, f"no make targets found in {CI}"
    ours = make_targets([line for s in steps for line in s.get("run", "").splitlines()])
    assert is_subsequence(ci, ours), f".ci/run runs {ci}; the workflow runs {ours}"


def test_make_targets_parser() -> None:
    lines = ["  make test", "rm -rf _build", "make CH=x chapter", "# make lint", "make -s book"]
    assert make_targets(lines) == ["test", "chapter", "book"]
    assert is_subsequence(["a", "c"], ["a", "b", "c"])
    assert not is_subsequence(["c", "a"], ["a", "b", "c"])


def test_uploads_and_deploys_the_site(workflow: dict, steps: list[dict]) -> None:
    upload = uses(steps, "actions/upload-pages-artifact")
    assert [s["with"]["path"] for s in upload] == ["_build/html"]
    assert uses(steps, "actions/deploy-pages")
    assert workflow["permissions"]["pages"] == "write"
    assert workflow["permissions"]["id-token"] == "write"
    assert workflow["concurrency"]["group"] == "pages"


def test_execution_cache_keyed_on_pins_and_sources(steps: list[dict]) -> None:
    caches = uses(steps, "actions/cache") + uses(steps, "actions/cache/restore")
    assert caches, "no cache step"
    for step in caches:
        spec = step["with"]
        assert "_build/.jupyter_cache" in spec["path"].split()
        hashed = " ".join(re.findall(r"hashFiles\(([^)]*)\)", spec["key"]))
        assert "requirements/lock.txt" in hashed, spec["key"]
        assert "charlm/**/*.py" in hashed, spec["key"]
