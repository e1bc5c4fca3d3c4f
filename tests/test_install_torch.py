"""Which torch `make` installs: the CPU build on Linux unless CUDA is asked for and usable."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("install_torch", ROOT / "tools" / "install_torch.py")
install_torch = importlib.util.module_from_spec(spec)
sys.modules["install_torch"] = install_torch  # its dataclass looks its module up there
spec.loader.exec_module(install_torch)
choose, CPU_INDEX = install_torch.choose, install_torch.CPU_INDEX


@pytest.mark.parametrize("nvidia", [False, True])
@pytest.mark.parametrize("request_", ["auto", "cpu"])
def test_linux_gets_the_cpu_build_unless_cuda_is_asked_for(nvidia, request_):
    plan = choose("Linux", nvidia, request_, "2.13.0", None)
    assert plan.args == ("--index-url", CPU_INDEX, "torch==2.13.0")


def test_linux_with_a_driver_gets_cuda_on_request():
    assert choose("Linux", True, "cuda", "2.13.0", None).args == ("torch==2.13.0",)
    with pytest.raises(SystemExit, match="no NVIDIA driver"):
        choose("Linux", False, "cuda", "2.13.0", None)


@pytest.mark.parametrize("system", ["Darwin", "Windows"])
def test_macos_and_windows_take_pypis_wheel(system):
    assert choose(system, False, "auto", "2.13.0", None).args == ("torch==2.13.0",)


@pytest.mark.parametrize("installed", ["2.13.0", "2.13.0+cpu"])
def test_the_pinned_version_already_installed_is_kept(installed):
    assert choose("Linux", False, "auto", "2.13.0", installed).args == ()


def test_another_installed_version_is_replaced():
    assert choose("Linux", False, "auto", "2.13.0", "2.9.1").args[-1] == "torch==2.13.0"


def test_a_bad_request_is_refused():
    with pytest.raises(SystemExit, match="auto, cpu or cuda"):
        choose("Linux", False, "gpu", "2.13.0", None)


def test_the_pin_comes_from_the_lock_file():
    assert install_torch.pinned_version() == "2.13.0"
