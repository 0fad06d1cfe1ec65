"""Registered workers for the training tests, as their heartbeats would leave them."""

from datetime import timedelta
from pathlib import Path
from typing import Any

from django.utils import timezone

from apps.fleet.gpu import gpu_snapshot
from apps.fleet.models import GpuWorker
from apps.fleet.services import worker_register
from apps.specialists.models import CatalogModel
from apps.specialists.selectors import catalog_weights_here
from apps.specialists.weights import CLASSIFIER_ENCODER


def tiny_llama_model(hf_id: str, folder: Path) -> CatalogModel:
    """A catalog entry for a tiny Llama saved in `folder` (tests/tiny_llama.py)."""
    return CatalogModel.objects.create(
        hf_id=hf_id,
        name="Tiny Llama",
        family="llama",
        params_b=0.0001,
        licence="apache-2.0",
        context_window=1024,
        architecture="LlamaForCausalLM",
        tool_calling=True,
        local_path=str(folder),
    )


def this_machine() -> GpuWorker:
    """This machine as a registered worker on both queues, with its GPUs (none on a CPU machine: it runs LoRA
    on its CPU) and the weights it has (the tiny Llamas' folders, the classifier's packaged encoder)."""
    return worker_register(
        name="celery@tests",
        host="tests",
        queues=["cpu", "gpu"],
        gpus=gpu_snapshot(),
        concurrency=1,
        can_resize=False,
        weights=catalog_weights_here(),
    )


def gpu(free_mb: int, total_mb: int | None = None) -> dict[str, Any]:
    total = total_mb if total_mb is not None else free_mb + 1000
    return {"index": 0, "name": "H200", "memory_total_mb": total, "memory_used_mb": total - free_mb, "utilization": 0}


def register(
    name: str,
    *,
    queues: tuple[str, ...] = ("gpu",),
    gpus: list[dict[str, Any]] | None = None,
    has: tuple[CatalogModel, ...] = (),
    encoder: bool = False,
    age_s: float = 0,
    **fields: Any,
) -> GpuWorker:
    """A worker that reports the weights of `has` (and the classifier's encoder when `encoder`), and every other
    catalog model missing."""
    weights: dict[str, list[Any]] = {
        hf_id: [False, f"Not in the Hugging Face cache: huggingface-cli download {hf_id}"]
        for hf_id in CatalogModel.objects.values_list("hf_id", flat=True)
    }
    weights.update({m.hf_id: [True, "Weights in the Hugging Face cache."] for m in has})
    weights[CLASSIFIER_ENCODER] = [encoder, "Packaged." if encoder else "The package is not installed."]
    now = timezone.now()
    return GpuWorker.objects.create(
        name=name,
        host=name.split("@")[-1],
        queues=list(queues),
        gpus=gpus or [],
        weights=weights,
        started_at=now - timedelta(hours=1),
        heartbeat_at=now - timedelta(seconds=age_s),
        **fields,
    )
