"""The trainer says in one line what it trains on, and what is missing when a GPU build finds no GPU."""

from __future__ import annotations

from types import SimpleNamespace

from trainer.gpu import describe, nvidia_driver


def fake_torch(cuda_build: str | None, available: bool = False, names=()):
    cuda = SimpleNamespace(
        is_available=lambda: available, device_count=lambda: len(names), get_device_name=lambda i: names[i]
    )
    return SimpleNamespace(__version__="2.14.1", version=SimpleNamespace(cuda=cuda_build), cuda=cuda)


def test_each_case_in_one_line():
    assert describe(fake_torch(None), None) == "training on the CPU: torch 2.14.1 is a CPU build"
    gpu = describe(fake_torch("13.0", True, ["NVIDIA H100"]), "580.65.06")
    assert gpu.startswith("training on the GPU: NVIDIA H100") and "driver 580.65.06" in gpu
    none = describe(fake_torch("13.0"), None)
    assert none.startswith("no GPU: training on the CPU") and "needs an NVIDIA driver 580 or newer" in none
    old = describe(fake_torch("13.0"), "550.54.14")
    assert "driver 550.54.14 is here" in old and "580 or newer" in old and "training on the CPU" in old
    assert all("\n" not in line for line in (gpu, none, old))


def test_the_driver_version_from_the_kernel_module(tmp_path):
    version = tmp_path / "version"
    version.write_text("NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.14  Thu Feb 22 01:44:30 UTC 2024\n")
    assert nvidia_driver(version) == "550.54.14"
    assert nvidia_driver(tmp_path / "missing") is None
