"""Install the pinned torch so that it fits the machine: ``python tools/install_torch.py``.

``make`` runs it with the venv's python before installing the locked requirements, so the
lock then finds torch already in place. What it installs:

- **Linux**: torch's CPU build, from PyTorch's CPU wheel index. PyPI's default Linux wheel
  is the CUDA build, with gigabytes of NVIDIA libraries a CPU-only book does not use. On a
  machine with an NVIDIA driver, ``CHARLM_TORCH=cuda`` asks for PyPI's CUDA build instead.
- **macOS and Windows**: PyPI's wheel, which is the CPU build there (with Apple's MPS on
  macOS).
- Nothing, when the venv already has the pinned version.

``CHARLM_TORCH`` is ``auto`` (the default, as above), ``cpu`` or ``cuda``. Pip's own
configuration (find-links, mirrors) is used as usual: a machine whose pip finds the
pinned CPU wheel locally installs that. If the CPU index cannot be reached, the plain
``pip install torch==VERSION`` is tried, with a warning.
"""

from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements" / "lock.txt"
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
ENV = "CHARLM_TORCH"


@dataclass(frozen=True)
class Plan:
    """How to install torch: the pip arguments, and why, in a line for the log."""

    args: tuple[str, ...]  # after ``pip install``; empty: install nothing
    why: str


def pinned_version(lock: Path = LOCK) -> str:
    """The torch version the lock file pins."""
    found = re.search(r"^torch==([^\s#]+)", lock.read_text(), re.M)
    if not found:
        raise SystemExit(f"install_torch: {lock} pins no torch")
    return found.group(1)


def choose(
    system: str, has_nvidia: bool, request: str, version: str, installed: str | None
) -> Plan:
    """The plan for a machine: ``system`` as ``platform.system()`` names it."""
    if request not in ("auto", "cpu", "cuda"):
        raise SystemExit(f"install_torch: {ENV} must be auto, cpu or cuda, got {request!r}")
    if installed is not None and installed.split("+")[0] == version:
        return Plan((), f"torch {installed} is installed already")
    pin = f"torch=={version}"
    if system != "Linux":
        return Plan((pin,), f"{system}: PyPI's torch {version} is its CPU build")
    if request == "cuda":
        if not has_nvidia:
            raise SystemExit(f"install_torch: {ENV}=cuda, but this machine has no NVIDIA driver")
        return Plan((pin,), "Linux with an NVIDIA driver, CUDA requested: PyPI's CUDA build")
    why = "Linux" + (" (NVIDIA driver found; CHARLM_TORCH=cuda for the CUDA build)"
                     if has_nvidia else " without an NVIDIA GPU")  # fmt: skip
    return Plan(("--index-url", CPU_INDEX, pin), f"{why}: torch's CPU build")


def has_nvidia_driver() -> bool:
    """Whether an NVIDIA kernel driver is loaded (what CUDA needs), on Linux."""
    return Path("/proc/driver/nvidia/version").exists()


def installed_torch() -> str | None:
    """The torch version this python has, or None, without importing torch."""
    from importlib import metadata

    try:
        return metadata.version("torch")
    except metadata.PackageNotFoundError:
        return None


def main() -> int:
    version = pinned_version()
    plan = choose(platform.system(), has_nvidia_driver(), os.environ.get(ENV, "auto"), version,
                  installed_torch())  # fmt: skip
    print(f"install_torch: {plan.why}")
    if not plan.args:
        return 0
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    if "--index-url" in plan.args:
        quick = ["--retries", "1", "--timeout", "20"]  # an unreachable index fails fast
        if subprocess.run([*pip, *quick, *plan.args]).returncode == 0:
            return 0
        print(f"install_torch: {CPU_INDEX} could not be used; trying pip's default index "
              "(on Linux that may be the CUDA build)", file=sys.stderr)  # fmt: skip
        return subprocess.run([*pip, f"torch=={version}"]).returncode
    return subprocess.run([*pip, *plan.args]).returncode


if __name__ == "__main__":
    sys.exit(main())
