"""gpu_snapshot: readings from NVML, nvidia-smi or torch.cuda, and never an exception."""

import shutil
import subprocess
from typing import Any

import pytest

from apps.fleet import gpu


def test_no_reader_gives_no_gpus_and_a_broken_one_never_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> Any:
        raise RuntimeError("driver/library version mismatch")

    monkeypatch.setattr(gpu, "_from_nvml", broken)
    monkeypatch.setattr(gpu, "_from_nvidia_smi", lambda: None)
    monkeypatch.setattr(gpu, "_from_torch", broken)
    assert gpu.gpu_snapshot() == []
    assert gpu.gpu_snapshot(allow_cuda_init=True) == []


def test_torch_is_only_asked_when_cuda_may_be_initialised_here(monkeypatch: pytest.MonkeyPatch) -> None:
    reading = [{"index": 0, "name": "T4", "memory_total_mb": 15360, "memory_used_mb": 0, "utilization": None}]
    monkeypatch.setattr(gpu, "_from_nvml", lambda: None)
    monkeypatch.setattr(gpu, "_from_nvidia_smi", lambda: None)
    monkeypatch.setattr(gpu, "_from_torch", lambda: reading)
    assert gpu.gpu_snapshot() == []
    assert gpu.gpu_snapshot(allow_cuda_init=True) == reading


def test_nvidia_smi_output_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    out = "0, NVIDIA H200, 143771, 20480, 37\n1, NVIDIA H200, 143771, 0, [N/A]\n"
    monkeypatch.setattr(shutil, "which", lambda name: "/usr/bin/nvidia-smi")
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(a, 0, stdout=out, stderr=""))
    assert gpu._from_nvidia_smi() == [
        {"index": 0, "name": "NVIDIA H200", "memory_total_mb": 143771, "memory_used_mb": 20480, "utilization": 37},
        {"index": 1, "name": "NVIDIA H200", "memory_total_mb": 143771, "memory_used_mb": 0, "utilization": None},
    ]


def test_a_machine_without_gpus_reads_as_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert gpu._from_nvidia_smi() is None


@pytest.mark.gpu
@pytest.mark.skipif(shutil.which("nvidia-smi") is None, reason="needs an NVIDIA GPU and its driver")
def test_a_real_gpu_is_read() -> None:
    readings = gpu.gpu_snapshot()
    assert readings, "nvidia-smi is present but no GPU was read"
    for reading in readings:
        assert reading["name"] and reading["memory_total_mb"] > 0
        assert 0 <= reading["memory_used_mb"] <= reading["memory_total_mb"]
    names = [r["name"] for r in readings]
    assert [r["name"] for r in gpu._from_nvidia_smi() or []] == names


@pytest.mark.gpu
@pytest.mark.skipif(shutil.which("nvidia-smi") is None, reason="needs an NVIDIA GPU and its driver")
def test_torch_reads_the_same_gpus() -> None:
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("this torch build has no CUDA")
    names = [r["name"] for r in gpu._from_nvidia_smi() or []]
    readings = gpu._from_torch() or []
    assert [r["name"] for r in readings] == names
    assert all(0 < r["memory_used_mb"] <= r["memory_total_mb"] for r in readings)
