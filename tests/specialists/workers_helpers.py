"""Registered workers for the training tests, as their heartbeats would leave them."""

from datetime import timedelta
from typing import Any

from django.utils import timezone

from apps.fleet.models import GpuWorker
from apps.specialists.models import CatalogModel
from apps.specialists.weights import CLASSIFIER_ENCODER


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
