"""What GPUs this machine has and how busy they are, for the worker's registration and heartbeats.

NVML first (nvidia-ml-py): it reads every GPU without creating a CUDA context. Without it, nvidia-smi,
which does the same from another process. torch.cuda last, and only when the caller allows CUDA to be
initialised here: a prefork parent that touched CUDA would hand its children a context they cannot use.
Never raises: a machine without GPUs, drivers or any of these libraries has [] GPUs.
"""

import logging
import shutil
import subprocess
from typing import Any

logger = logging.getLogger(__name__)

MB = 1024 * 1024


def gpu_snapshot(*, allow_cuda_init: bool = False) -> list[dict[str, Any]]:
    """[{"index", "name", "memory_total_mb", "memory_used_mb", "utilization"}], or [] when none is readable."""
    readers = [_from_nvml, _from_nvidia_smi]
    if allow_cuda_init:
        readers.append(_from_torch)
    for read in readers:
        try:
            gpus = read()
        except Exception as exc:  # a broken driver or library must never stop a worker
            logger.debug("GPU reader %s failed: %r", read.__name__, exc)
            continue
        if gpus is not None:
            return gpus
    return []


def _gpu(index: int, name: str, total_mb: int, used_mb: int, utilization: int | None) -> dict[str, Any]:
    return {
        "index": index,
        "name": name,
        "memory_total_mb": int(total_mb),
        "memory_used_mb": int(used_mb),
        "utilization": utilization,
    }


def _from_nvml() -> list[dict[str, Any]] | None:
    try:
        import pynvml
    except ImportError:
        return None
    pynvml.nvmlInit()
    try:
        gpus = []
        for index in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            name = pynvml.nvmlDeviceGetName(handle)
            memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
            try:
                utilization: int | None = int(pynvml.nvmlDeviceGetUtilizationRates(handle).gpu)
            except pynvml.NVMLError:
                utilization = None
            gpus.append(
                _gpu(
                    index,
                    name.decode() if isinstance(name, bytes) else str(name),
                    memory.total // MB,
                    memory.used // MB,
                    utilization,
                )
            )
        return gpus
    finally:
        pynvml.nvmlShutdown()


def _from_nvidia_smi() -> list[dict[str, Any]] | None:
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return None
    result = subprocess.run(
        [smi, "--query-gpu=index,name,memory.total,memory.used,utilization.gpu", "--format=csv,noheader,nounits"],
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    )
    gpus = []
    for line in result.stdout.splitlines():
        parts = [part.strip() for part in line.split(",")]
        if len(parts) != 5:
            continue
        index, name, total, used, utilization = parts
        gpus.append(_gpu(int(index), name, int(total), int(used), int(utilization) if utilization.isdigit() else None))
    return gpus


def _from_torch() -> list[dict[str, Any]] | None:
    try:
        import torch
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    gpus = []
    for index in range(torch.cuda.device_count()):
        free, total = torch.cuda.mem_get_info(index)
        try:
            utilization: int | None = int(torch.cuda.utilization(index))
        except Exception:  # needs pynvml, which is exactly what is missing here
            utilization = None
        gpus.append(_gpu(index, torch.cuda.get_device_name(index), total // MB, (total - free) // MB, utilization))
    return gpus
