"""charlm.bookbuild.quiet: a timing in the build has the machine to itself, and only there."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time

import psutil

from charlm.bookbuild import BUILD_PID_ENV, CORES_ENV, kernel_environment
from charlm.bookbuild.quiet import machine_to_itself

# another page's process: it holds every core of the budget, then works until it is ended
BUSY = """
import sys, time
from charlm.bookbuild.cores import cores
with cores(2):
    open(sys.argv[1], "w").close()
    while True:
        pass
"""

# a page's timing: inside the quiet, how much CPU the busy process used in half a second;
# and a training loop there, which must not wait for the cores the paused process holds
TIMING = """
import sys, time, psutil
from charlm.bookbuild.cores import cores
from charlm.bookbuild.quiet import machine_to_itself
busy = psutil.Process(int(sys.argv[1]))
with machine_to_itself():
    before = sum(busy.cpu_times()[:2])
    time.sleep(0.5)
    during = sum(busy.cpu_times()[:2]) - before
    status = busy.status()
    with cores(1):
        pass
print(during, status, busy.status())
"""


def test_outside_the_build_nothing_is_paused(monkeypatch):
    monkeypatch.delenv(BUILD_PID_ENV, raising=False)
    with machine_to_itself():
        pass  # nothing to check but that it returns: no lock, no process touched


def test_a_timing_pauses_the_other_processes_of_the_build_and_lets_them_go_on(tmp_path):
    env = {**os.environ, BUILD_PID_ENV: str(os.getpid()), CORES_ENV: str(tmp_path / "cores")}
    started = tmp_path / "started"
    busy = subprocess.Popen([sys.executable, "-c", BUSY, str(started)], env=env)
    try:
        deadline = time.monotonic() + 60
        while not started.exists():
            assert busy.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        timing = subprocess.run([sys.executable, "-c", textwrap.dedent(TIMING), str(busy.pid)],
                                env=env, capture_output=True, text=True, timeout=60)  # fmt: skip
        assert timing.returncode == 0, timing.stderr
        during, status, after = timing.stdout.split()
        assert float(during) < 0.05  # it used (almost) no CPU while paused
        assert status == psutil.STATUS_STOPPED and after != psutil.STATUS_STOPPED
    finally:
        busy.kill()
        busy.wait()


# a timing during which the build starts another process: the watch must pause it too
LATE_TIMING = """
import sys, time, pathlib, psutil
from charlm.bookbuild.quiet import machine_to_itself
inside, late = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
with machine_to_itself():
    inside.touch()
    deadline = time.monotonic() + 60
    while not late.exists() or not late.read_text():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    proc = psutil.Process(int(late.read_text()))
    time.sleep(1.0)  # the watch looks every tenth of a second
    before = sum(proc.cpu_times()[:2])
    time.sleep(0.5)
    during, status = sum(proc.cpu_times()[:2]) - before, proc.status()
print(during, status, proc.status())
"""


def test_a_process_the_build_starts_during_a_timing_is_paused_and_counted(tmp_path):
    # as in a kernel of the build: its startup hooks (the seam) run in every Python it starts
    env = kernel_environment(
        {**os.environ, BUILD_PID_ENV: str(os.getpid()), CORES_ENV: str(tmp_path / "cores")}
    )
    inside, late_pid = tmp_path / "inside", tmp_path / "late"
    timing = subprocess.Popen([sys.executable, "-c", LATE_TIMING, str(inside), str(late_pid)],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)  # fmt: skip
    late = None
    try:
        deadline = time.monotonic() + 60
        while not inside.exists():
            assert timing.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(1.0)  # well after the watch's first look
        late = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        late_pid.write_text(str(late.pid))
        out, err = timing.communicate(timeout=60)
        assert timing.returncode == 0 and err == ""  # a page's cell would show any of it
        during, status, after = out.split()
        assert float(during) < 0.05 and status == psutil.STATUS_STOPPED
        assert after != psutil.STATUS_STOPPED
        (record,) = (tmp_path / "cores" / "quiet.jsonl").read_text().splitlines()
        assert json.loads(record)["paused"] == 1  # the late process, found by the watch
    finally:
        timing.kill()
        if late is not None:
            late.kill()
            late.wait()
