from datetime import datetime

from ninja import Schema
from pydantic import Field


class GpuOut(Schema):
    index: int
    name: str
    memory_total_mb: int
    memory_used_mb: int
    utilization: int | None = Field(None, description="Percent busy over the last sample; null when unknown")


class WorkerOut(Schema):
    name: str = Field(description="Celery node name, such as celery@gpu-box-1")
    host: str
    queues: list[str]
    status: str = Field(description="online, draining, stale (missed heartbeats) or offline")
    draining: bool = Field(description="Takes no new jobs; the current one finishes")
    concurrency: int = Field(description="Jobs it runs at once")
    current_job: str | None = Field(description="Id of the training run it is running")
    gpus: list[GpuOut]
    free_gpu_memory_mb: int = Field(description="The most free memory on any one of its GPUs")
    started_at: datetime
    heartbeat_at: datetime | None = Field(description="Null when the worker stopped cleanly")
    heartbeat_age_s: float | None = Field(description="Seconds since its last heartbeat; null when it stopped")


class WorkerListOut(Schema):
    items: list[WorkerOut]
