"""The execution extension (book/_ext/execution.py): one reading of ``execute_after``, and a
build stopped from outside leaves no process behind.

The first tests need no build: every way of writing "after every other page" must give the
same order of execution and the same fingerprint. The last ones build a small book whose
chapter hangs, stop the build from outside as CI's timeout or a closed terminal would, and
look for any process left with the build's environment.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from _book import EXTENSIONS, FRONT_MATTER, JUPYTER_BOOK, Book
from sphinx.errors import ExtensionError

sys.path.insert(0, str(EXTENSIONS))  # as jupyter-book does for local extensions
import execution  # noqa: E402
from execution import Page  # noqa: E402

pytestmark = pytest.mark.build

CODE = "\n# A page\n\n```{code-cell} ipython3\nimport pkg\n```\n"
AFTER_ALL = {
    "flow list, all and a name": 'execute_after: ["*", "x"]',
    "flow list, all": 'execute_after: ["*"]',
    "block list, all and a name": 'execute_after:\n  - "*"\n  - x',
}


def page(extra: str, docname: str = "results") -> Page:
    return Page.parse(docname, FRONT_MATTER.format(extra=extra) + CODE)


# --- the one reader --------------------------------------------------------------------------


@pytest.mark.parametrize("extra", AFTER_ALL.values(), ids=list(AFTER_ALL))
def test_every_way_of_writing_all_runs_last(extra: str) -> None:
    results = page(extra)
    assert results.after[0] == "*" and results.runs_last
    assert results.after in (("*",), ("*", "x"))  # the name after "*" is read too
    # the ordering decision: the last wave, waiting on no other page of that wave
    assert results.waits_on({"results", "reproducing"}) == []
    assert results.waits_on({"x", "y"}) == (["x"] if "x" in results.after else [])


def test_flow_and_block_lists_read_the_same() -> None:
    flow, block = (
        page(AFTER_ALL["flow list, all and a name"]),
        page(AFTER_ALL["block list, all and a name"]),
    )
    assert flow.after == block.after == ("*", "x")


def test_names_without_all_order_within_the_first_wave() -> None:
    assert page("").after == () and not page("").runs_last
    assert page("execute_after: a").after == ("a",)  # one name is a list of one
    chapter = page("execute_after: [a, b]")
    assert not chapter.runs_last and chapter.waits_on({"b", "c"}) == ["b"]


def test_every_way_of_writing_all_fingerprints_the_records(tmp_path, monkeypatch) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("VALUE = 1\n")
    records = tmp_path / "results"
    records.mkdir()
    (records / "01-model.json").write_text('{"train": 2.5}\n')
    monkeypatch.setenv("CHARLM_RESULTS", str(records))

    def fingerprints() -> set[str]:
        return {execution.fingerprint(page(e), tmp_path, "pkg", []) for e in AFTER_ALL.values()}

    before = fingerprints()
    assert len(before) == 1  # one decision for all three
    plain = execution.fingerprint(page("execute_after: [x]"), tmp_path, "pkg", [])
    assert plain not in before  # only pages that run last count the records
    (records / "01-model.json").write_text('{"train": 2.4}\n')
    after = fingerprints()
    assert len(after) == 1 and after != before
    assert execution.fingerprint(page("execute_after: [x]"), tmp_path, "pkg", []) == plain


@pytest.mark.parametrize("value", ["3", "[1, 2]", "{a: b}", "null"])
def test_a_bad_execute_after_names_the_page(value: str) -> None:
    with pytest.raises(ExtensionError, match="book/results: execute_after must be"):
        page(f"execute_after: {value}", docname="book/results")


def test_front_matter_that_is_not_yaml_names_the_page() -> None:
    with pytest.raises(ExtensionError, match="book/results: the front matter is not valid YAML"):
        page("execute_after: [*", docname="book/results")


# --- a build stopped from outside ------------------------------------------------------------

HANGS = (
    FRONT_MATTER.format(extra="")
    + """
# A chapter that hangs

```{code-cell} ipython3
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor

# a worker process of its own (and a resource tracker), as charlm.runs.fit_all starts
pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
pool.submit(time.sleep, 600)
open("started", "w").close()
time.sleep(600)
```
"""
)
TOKEN = "CHARLM_TEST_STOP_TOKEN"


def processes_with(token: str) -> list[int]:
    """The processes whose environment holds ``token``."""
    found = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if token.encode() in environ.read_bytes():
                found.append(int(environ.parent.name))
        except OSError:  # ended meanwhile, or not ours
            continue
    return found


def start_hanging_build(book: Book, wrap: list[str], token: str) -> subprocess.Popen:
    """Start ``wrap + build command``; return once the chapter's kernel runs its code."""
    (book.root / "chapter.md").write_text(HANGS)
    env = {**os.environ, TOKEN: token}
    with (book.root / "build.log").open("w") as log:  # the build keeps its own copy
        build = subprocess.Popen([*wrap, *book.command()], stdout=log, stderr=log, env=env)
    deadline = time.monotonic() + 240
    while not (book.root / "started").exists():
        if build.poll() is not None or time.monotonic() > deadline:
            build.kill()
            pytest.fail("the chapter never started:\n" + (book.root / "build.log").read_text())
        time.sleep(0.2)
    return build


def wait_until_gone(token: str, seconds: float = 30) -> list[int]:
    """The processes left with ``token`` after up to ``seconds``."""
    deadline = time.monotonic() + seconds
    while (left := processes_with(token)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


def kill_leftovers(token: str) -> None:
    """End whatever a failed test left running (all started by this test)."""
    for pid in processes_with(token):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


# make's recipe shell runs jupyter-book as a child (not exec), as this `if` makes bash do
IN_A_SHELL = ["bash", "-c", 'if ! "$@"; then exit 1; fi', "bash"]


STOPS = {
    "shell-terminated": (IN_A_SHELL, signal.SIGTERM),  # a CI timeout, or make terminated
    "build-terminated": ([], signal.SIGTERM),
    "build-killed": ([], signal.SIGKILL),  # its workers end their kernels themselves
}


@pytest.mark.parametrize("wrap, signum", STOPS.values(), ids=list(STOPS))
def test_a_stopped_build_leaves_no_process_behind(tmp_path, wrap: list[str], signum: int) -> None:
    token = uuid.uuid4().hex
    try:
        build = start_hanging_build(Book(tmp_path), wrap, token)
        build.send_signal(signum)
        assert build.wait(30) != 0
        left = wait_until_gone(token)
        log = (tmp_path / "build.log").read_text()
        assert not left, f"processes left behind: {left}\n{log[-3000:]}"
    finally:
        kill_leftovers(token)


# --- progress in a terminal, and kernels without TCP ------------------------------------------


class Screen:
    """A stream that says it is (or is not) a terminal and keeps what is written."""

    def __init__(self, tty: bool) -> None:
        self.tty = tty
        self.text = ""

    def isatty(self) -> bool:
        return self.tty

    def write(self, text: str) -> None:
        self.text += text

    def flush(self) -> None:
        pass


def test_progress_lines_name_the_page_the_model_the_steps_and_the_time_left():
    from charlm.bookbuild.progress import Loop

    loop = Loop(page="book/05_wavenet", what="WaveNet", done=50_000, total=200_000, seconds=60)
    line = execution.progress_line("book/05_wavenet", 130, [loop])
    assert line == "  book/05_wavenet  2m10s  WaveNet 50,000/200,000 steps, 3m00s left"
    assert execution.progress_line("book/01_bigram", 7.4, []).endswith("7s  running cells")
    short = Loop(page="book/02_mlp", what="MLP", done=10, total=20, seconds=10)
    assert execution.build_line(250, [short, loop]) == (
        "build 4m10s, at least 3m00s left (WaveNet, 05_wavenet)"
    )
    assert execution.build_line(5, []) == "build 5s"


def test_progress_is_drawn_and_erased_in_a_terminal_only(tmp_path):
    from charlm.bookbuild.progress import Loop

    report = Loop(page="a", what="MLP", done=10, total=20, seconds=1.0)
    (tmp_path / "a-1.json").write_text(json.dumps(report.__dict__))
    screen = Screen(tty=True)
    lines = execution.ProgressLines(screen, str(tmp_path))
    lines.draw({"a": 0.0, "b": 0.0}, start=time.perf_counter() - 3)
    assert screen.text.splitlines() == [
        "  build 3s, at least 1s left (MLP, a)",
        "  a  3s  MLP 10/20 steps, 1s left",
        "  b  3s  running cells",
    ]
    lines.clear()
    assert screen.text.endswith("\x1b[3F\x1b[J")  # up three lines, erase to the end
    piped = Screen(tty=False)
    log = execution.ProgressLines(piped, str(tmp_path))
    log.draw({"a": 0.0}, start=time.perf_counter() - 30)
    assert piped.text == ""  # outside a terminal: nothing in the first minute
    log.draw({"a": 0.0}, start=time.perf_counter() - 61)
    log.draw({"a": 0.0}, start=time.perf_counter() - 62)
    log.clear()
    assert piped.text == "[execution] build 1m01s, at least 1s left (MLP, a)\n"  # once a minute


def test_kernels_talk_over_local_sockets_not_tcp():
    """A kernel started as the build starts one answers over socket files of its own: no
    channel is a TCP port. (ipykernel's one TCP socket is its own: a pipe on 127.0.0.1 that
    collects the output of processes the kernel forks, which no client connects to.)"""
    import asyncio

    import psutil

    async def start_and_look() -> tuple[dict, list[str], list]:
        manager = execution.LocalKernelManager()
        await manager.start_kernel()
        client = manager.client()
        client.start_channels()
        try:
            await client.wait_for_ready(timeout=120)
            info = manager.get_connection_info()
            names = ("shell_port", "iopub_port", "stdin_port", "control_port", "hb_port")
            files = [f"{info['ip']}-{info[name]}" for name in names]
            kernel = psutil.Process(manager.provisioner.pid)
            return info, [f for f in files if Path(f).exists()], kernel.net_connections("inet")
        finally:
            client.stop_channels()
            await manager.shutdown_kernel(now=True)

    info, files, connections = asyncio.run(start_and_look())
    assert info["transport"] == "ipc" and len(files) == 5  # every channel a socket file
    assert len({Path(f).name.rsplit("-", 1)[0] for f in files}) == 1  # all the kernel's own
    # at most that pipe: listening on loopback only, connected to nothing
    assert len(connections) <= 1, connections
    assert all(c.laddr.ip == "127.0.0.1" and c.status == "LISTEN" for c in connections)
    # a kernel manager left at jupyter_client's default would use TCP for every channel
    assert execution.AsyncKernelManager().transport == "tcp"


# --- a failing page fails the whole build, at once -------------------------------------------

BUILD_SCRIPT = Path(__file__).resolve().parent.parent / "tools" / "build.sh"

FAILING = (
    FRONT_MATTER.format(extra="execution:\n  timeout: 4")
    + """
# A failing page

Some prose before the cells.

```{{code-cell}} ipython3
value = 1
```

And between them.

```{{code-cell}} ipython3
{code}
```
"""
)

FAILURES = {  # the failing cell, and what the build must say of it
    "raises": (
        "import time\ntime.sleep(3)\nraise RuntimeError('this cell fails on purpose')",
        "RuntimeError: this cell fails on purpose",
    ),
    "times-out": ("import time\ntime.sleep(600)", "ran longer than the timeout of 4 s"),
    "kernel-killed": (
        "import os, signal, time\ntime.sleep(3)\nos.kill(os.getpid(), signal.SIGKILL)",
        "the kernel died while this cell ran",
    ),
}
BOUND = 60  # seconds a build may take to fail after its failing cell fails (the bound)


@pytest.mark.parametrize("pages", [2, 3])
@pytest.mark.parametrize("kind", list(FAILURES))
def test_a_failing_page_fails_the_build_at_once(tmp_path, kind: str, pages: int) -> None:
    """Beside one or two pages that would run for ten minutes, one page fails: the build
    fails within the bound, says which page and cell and why in one block, leaves no process
    and removes the HTML (a stale page of an earlier build included)."""
    code, cause = FAILURES[kind]
    book = Book(tmp_path)
    slow = [f"slow{i}" for i in range(pages - 1)]
    for name in slow:
        (tmp_path / f"{name}.md").write_text(HANGS)  # ten minutes, with a process of its own
    (tmp_path / "failing.md").write_text(FAILING.format(code=code))
    book.set_toc([*slow, "failing"])
    html = tmp_path / "_build" / "html"
    html.mkdir(parents=True)
    (html / "failing.html").write_text("an earlier build's page")
    token = uuid.uuid4().hex
    env = {**os.environ, TOKEN: token}
    command = ["bash", str(BUILD_SCRIPT), str(JUPYTER_BOOK), str(tmp_path), str(html)]
    began = time.monotonic()
    try:
        result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
        seconds = time.monotonic() - began
        output = result.stdout + result.stderr
        assert result.returncode != 0, output[-3000:]
        started = output.index("executing 3 page(s)" if pages == 3 else "executing 2 page(s)")
        assert seconds < 30 + 4 + BOUND, f"{seconds:.0f} s to fail:\n{output[-3000:]}"
        # one block: the page, the cell and its line, the cause; nothing else of the kernel
        text = (tmp_path / "failing.md").read_text()
        line = text[: text.rindex("```{code-cell}")].count("\n") + 1
        assert f"executing failing failed, in code cell 2 of 2 (line {line} of " in output
        assert cause in output, output[-3000:]
        assert "zmq" not in output[started:].lower(), output[-3000:]
        assert "site-packages" not in output[started:], output[-3000:]
        assert output.count("executing failing failed") == 1
        assert not wait_until_gone(token, seconds=10), "processes left behind"
        assert not html.exists()  # no page of this build, nor of an earlier one, is served
    finally:
        kill_leftovers(token)


def test_execute_first_is_true_or_false_and_names_the_page() -> None:
    assert page("execute_first: true").first and not page("").first
    with pytest.raises(ExtensionError, match="book/06_fast: execute_first must be true or false"):
        page("execute_first: yes please", docname="book/06_fast")


def test_a_head_start_ends_when_the_first_page_trains_or_ends(tmp_path) -> None:
    timeline = {"06": {"start": 0.0}}
    assert execution.head_start({"06"}, {"06": None}, {}, str(tmp_path), 0.0)  # not started
    assert execution.head_start({"06"}, {}, timeline, str(tmp_path), 5.0)  # not training yet
    assert not execution.head_start({"06"}, {}, timeline, str(tmp_path), execution.HEAD_START)
    assert not execution.head_start(set(), {}, {}, str(tmp_path), 0.0)
    (tmp_path / "finished.jsonl").write_text(
        '{"page": "06", "what": "W", "done": 1, "total": 1, "seconds": 1.0}\n'
    )
    assert not execution.head_start({"06"}, {}, timeline, str(tmp_path), 5.0)
    ended = {"06": {"start": 0.0, "end": 4.0}}
    assert not execution.head_start({"06"}, {}, ended, str(tmp_path / "none"), 5.0)
