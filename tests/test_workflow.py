"""The GitHub workflows build what CI builds, the same way, on the same system; the Pages one
publishes the result, the weekly one also checks the external links. And tools/run_workflow.py,
which runs a workflow's job here, does what it says."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / ".github" / "workflows"
WORKFLOW = WORKFLOWS / "pages.yml"
WEEKLY = WORKFLOWS / "weekly.yml"
CI = ROOT / ".ci" / "run"
IMAGE = "python:3.11-bookworm"
MAKE_ORDER = ["test", "book", "pdf", "check-site"]

spec = importlib.util.spec_from_file_location("run_workflow", ROOT / "tools" / "run_workflow.py")
run_workflow = importlib.util.module_from_spec(spec)
spec.loader.exec_module(run_workflow)


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


def run_lines(steps: list[dict]) -> list[str]:
    return [line for s in steps for line in s.get("run", "").splitlines()]


@pytest.fixture(scope="module")
def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


@pytest.fixture(scope="module")
def weekly() -> dict:
    return yaml.safe_load(WEEKLY.read_text())


@pytest.fixture(scope="module")
def steps(workflow: dict) -> list[dict]:
    return [step for job in workflow["jobs"].values() for step in job["steps"]]


@pytest.fixture(scope="module")
def build(workflow: dict) -> list[dict]:
    return workflow["jobs"]["build"]["steps"]


def uses(steps: list[dict], action: str) -> list[dict]:
    """The steps that use ``action`` (any version)."""
    return [s for s in steps if s.get("uses", "").split("@")[0] == action]


def index(steps: list[dict], predicate) -> int:
    """The position of the first step for which ``predicate`` holds."""
    found = [i for i, s in enumerate(steps) if predicate(s)]
    assert found, "no such step"
    return found[0]


def running(text: str):
    return lambda step: text in step.get("run", "")


def triggers(workflow: dict) -> dict:
    return workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true


def test_triggers_and_jobs(workflow: dict) -> None:
    on = triggers(workflow)
    assert "main" in on["push"]["branches"]
    assert "workflow_dispatch" in on
    assert workflow["jobs"], "no jobs"
    for name, job in workflow["jobs"].items():
        assert job["runs-on"] == "ubuntu-latest", name
        assert job["steps"], f"job {name} has no steps"
        assert all("uses" in s or "run" in s for s in job["steps"]), name


@pytest.mark.parametrize("path", [WORKFLOW, WEEKLY], ids=lambda p: p.name)
def test_builds_in_debian_bookworm_with_python_311(path: Path) -> None:
    job = yaml.safe_load(path.read_text())["jobs"]["build"]
    container = job["container"]
    assert (container["image"] if isinstance(container, dict) else container) == IMAGE
    assert not uses(job["steps"], "actions/setup-python"), "the image has Python 3.11"


@pytest.mark.parametrize("path", [WORKFLOW, WEEKLY], ids=lambda p: p.name)
def test_run_steps_use_the_shell_run_workflow_uses(path: Path) -> None:
    shell = yaml.safe_load(path.read_text())["defaults"]["run"]["shell"]
    assert shell.split() == [*run_workflow.SHELL[:-1], "{0}"]


def test_installs_browser_and_tex_before_the_steps_that_need_them(build: list[dict]) -> None:
    browser = index(build, running("bash tools/install-browser.sh"))
    tex = index(build, running("bash tools/install-tex.sh"))
    # before the tests too: without them the browser and PDF tests are skipped, not run
    assert browser < index(build, running("make test"))
    assert tex < index(build, running("make test"))
    assert tex < index(build, running("make pdf"))
    assert browser < index(build, running("make check-site"))


def test_ci_runs_the_workflow_build_job_itself(steps: list[dict]) -> None:
    """CI is the workflow's build job run here, only its internet-bound torch step replaced."""
    text = CI.read_text()
    assert "tools/run_workflow.py .github/workflows/pages.yml --job build" in text
    replaced = re.findall(r'--replace "([^"=]+)=', text)
    names = [s.get("name") for s in steps]
    assert replaced == ["Install torch (CPU build)"] and replaced[0] in names
    assert make_targets(text.splitlines()) == ["venv"]  # the runner's own environment


@pytest.mark.parametrize("path", [WORKFLOW, WEEKLY], ids=lambda p: p.name)
def test_make_targets_test_book_pdf_check_site(path: Path) -> None:
    job = yaml.safe_load(path.read_text())["jobs"]["build"]
    assert make_targets(run_lines(job["steps"])) == MAKE_ORDER


def test_make_targets_parser() -> None:
    lines = ["  make test", "rm -rf _build", "make CH=x chapter", "# make lint", "make -s book"]
    assert make_targets(lines) == ["test", "chapter", "book"]
    assert is_subsequence(["a", "c"], ["a", "b", "c"])
    assert not is_subsequence(["c", "a"], ["a", "b", "c"])


def test_site_url_from_configure_pages_for_every_build_after_it(build: list[dict]) -> None:
    pages = uses(build, "actions/configure-pages")
    assert len(pages) == 1 and pages[0]["id"] == "pages"
    exports = [s for s in build if "GITHUB_ENV" in s.get("run", "")]
    assert len(exports) == 1, "one step exports the site's address"
    assert "${{ steps.pages.outputs.base_url }}" in exports[0]["run"]
    assert "CHARLM_SITE_URL=" in exports[0]["run"]
    book = [s for s in build if s.get("run", "").strip() == "make book"]
    pdf = [s for s in build if s.get("run", "").strip() == "make pdf"]
    assert build.index(pages[0]) < build.index(exports[0]) < build.index(book[0])
    assert build.index(exports[0]) < build.index(pdf[0])  # make pdf re-writes the site
    jobs = yaml.safe_load(WORKFLOW.read_text())["jobs"]
    assert "CHARLM_SITE_URL" not in (jobs["build"].get("env") or {})


def test_uploads_and_deploys_the_site(workflow: dict, steps: list[dict]) -> None:
    upload = uses(steps, "actions/upload-pages-artifact")
    assert [s["with"]["path"] for s in upload] == ["_build/html"]
    assert uses(steps, "actions/deploy-pages")
    assert workflow["permissions"]["pages"] == "write"
    assert workflow["permissions"]["id-token"] == "write"
    assert workflow["concurrency"]["group"] == "pages"


def test_execution_cache_keyed_on_pins_and_sources(steps: list[dict]) -> None:
    caches = uses(steps, "actions/cache") + uses(steps, "actions/cache/restore")
    execution = [s for s in caches if "_build/.jupyter_cache" in s["with"]["path"].split()]
    assert execution, "no execution cache step"
    for step in execution:
        hashed = " ".join(re.findall(r"hashFiles\(([^)]*)\)", step["with"]["key"]))
        assert "requirements/lock.txt" in hashed, step["with"]["key"]
        assert "charlm/**/*.py" in hashed, step["with"]["key"]
    for step in caches:
        if step not in execution:  # pip's downloads: a new lock, a new cache
            assert "requirements/lock.txt" in step["with"]["key"], step["with"]["key"]


def test_weekly_rebuilds_from_scratch_checks_links_and_deploys_nothing(weekly: dict) -> None:
    on = triggers(weekly)
    assert on["schedule"] and all("cron" in s for s in on["schedule"])
    assert "workflow_dispatch" in on
    assert "push" not in on
    steps = [step for job in weekly["jobs"].values() for step in job["steps"]]
    assert any("--builder linkcheck" in s.get("run", "") for s in steps)
    for action in (
        "actions/cache",
        "actions/cache/restore",
        "actions/upload-pages-artifact",
        "actions/deploy-pages",
        "actions/configure-pages",
    ):
        assert not uses(steps, action), action
    assert "pages" not in weekly.get("permissions", {})
    linkcheck = index(steps, running("--builder linkcheck"))
    assert linkcheck > index(steps, running("make book"))


def test_linkcheck_only_weekly(steps: list[dict]) -> None:
    assert not any("linkcheck" in line for line in run_lines(steps))
    assert "linkcheck" not in CI.read_text()


# tools/run_workflow.py on a tiny workflow

FIXTURE = """
env:
  WORKFLOW_WIDE: w
jobs:
  other:
    runs-on: ubuntu-latest
    steps:
      - run: echo other >> log
  build:
    runs-on: ubuntu-latest
    container: python:3.11-bookworm
    steps:
      - uses: actions/checkout@v4
      - name: First
        run: echo "first $WORKFLOW_WIDE" >> log
      - name: Needs the internet
        run: exit 99  # stands for a download
      - id: pages
        uses: actions/configure-pages@v5
      - name: With env
        run: echo "url=$URL other=$OTHER ${{ github.sha }}." >> log
        env:
          URL: ${{ steps.pages.outputs.base_url }}/
          OTHER: "${{ unknown.thing }}x"
      - name: Fails
        run: |
          echo failing >> log
          exit 3
      - name: Never
        run: echo never >> log
"""


@pytest.fixture
def fixture(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "wf.yml"
    path.write_text(FIXTURE)
    return path


def run(path: Path, *args: str) -> int:
    return run_workflow.main([str(path), "--job", "build", *args])


def test_run_workflow_runs_steps_in_order_and_stops_at_a_failure(fixture, capsys) -> None:
    args = [
        "--replace",
        "Needs the internet=echo replaced >> log",
        "--env",
        "steps.pages.outputs.base_url=https://example.org/charlm",
    ]
    assert run(fixture, *args) == 3
    assert Path("log").read_text().splitlines() == [
        "first w",
        "replaced",
        "url=https://example.org/charlm/ other=x .",
        "failing",
    ]
    out = capsys.readouterr().out
    assert "[1/7] actions/checkout@v4: skipped (uses: actions/checkout@v4)" in out
    assert "[4/7] actions/configure-pages@v5: skipped" in out
    assert re.search(r"\[2/7\] First: ok in \d+\.\d s", out)
    assert "[3/7] Needs the internet: running (replaced)" in out
    assert "[6/7] Fails: FAILED with exit status 3" in out
    assert "Never" not in out


def test_run_workflow_unknown_expressions_are_empty(fixture) -> None:
    assert run(fixture, "--replace", "Needs the internet=true") == 3
    assert "url=/ other=x ." in Path("log").read_text().splitlines()


def test_run_workflow_dry_run_runs_nothing(fixture, capsys) -> None:
    assert run(fixture, "--dry-run", "--replace", "Needs the internet=make venv") == 0
    assert not Path("log").exists()
    out = capsys.readouterr().out
    replaced = "[3/7] Needs the internet: would run (replaced)\n    env WORKFLOW_WIDE=w\n"
    assert replaced + "    $ make venv\n" in out
    assert "    env URL=/" in out
    assert "[7/7] Never: would run" in out


def test_run_workflow_without_the_replacement_stops_at_the_step(fixture, capsys) -> None:
    assert run(fixture) == 99
    assert Path("log").read_text().splitlines() == ["first w"]
    assert "[3/7] Needs the internet: FAILED with exit status 99" in capsys.readouterr().out


def test_run_workflow_refuses_a_replacement_naming_no_step(fixture) -> None:
    with pytest.raises(SystemExit):
        run(fixture, "--replace", "No such step=true")
    with pytest.raises(SystemExit):
        run_workflow.main([str(fixture)])  # two jobs: --job is needed
    assert not Path("log").exists()


def test_run_workflow_passes_github_env_to_later_steps(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "wf.yml"
    path.write_text(
        "jobs:\n  build:\n    runs-on: ubuntu-latest\n    steps:\n"
        '      - run: echo "SITE=https://example.org/" >> "$GITHUB_ENV"\n'
        '      - run: echo "site=$SITE" >> log\n'
    )
    monkeypatch.delenv("SITE", raising=False)
    assert run_workflow.main([str(path)]) == 0
    assert Path("log").read_text() == "site=https://example.org/\n"
