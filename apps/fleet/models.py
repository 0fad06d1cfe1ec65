from django.db import models


class GpuWorker(models.Model):
    """A Celery worker as admins see it: registered at start, heartbeating while it lives. `name` is
    Celery's node name (celery@host), or host:pid for a worker started without one."""

    name = models.CharField(max_length=200, primary_key=True)
    host = models.CharField(max_length=200)
    queues = models.JSONField(default=list)
    # [{"index": 0, "name": "NVIDIA H200", "memory_total_mb": 143771, "memory_used_mb": 1234, "utilization": 0}]
    gpus = models.JSONField(default=list)
    concurrency = models.PositiveIntegerField(default=1)
    draining = models.BooleanField(default=False, help_text="Takes no new jobs; the current one finishes.")
    current_job = models.CharField(max_length=64, blank=True, help_text="Id of the training run it is running.")
    # {hf_id: [present, where or what to do]} for every catalog model and the classifier's encoder, as the
    # worker found them at its last heartbeat (apps.specialists.weights: package, local folder, HF cache).
    weights = models.JSONField(default=dict)
    started_at = models.DateTimeField()
    heartbeat_at = models.DateTimeField()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def has_weights(self, hf_id: str) -> bool:
        found = (self.weights or {}).get(hf_id)
        return bool(found and found[0])

    @property
    def largest_gpu_mb(self) -> int:
        """The most memory of any one of its GPUs, used or not (a job runs on one GPU)."""
        return max((int(g.get("memory_total_mb", 0)) for g in self.gpus if isinstance(g, dict)), default=0)

    @property
    def free_gpu_memory_mb(self) -> int:
        """The most free memory on any one of its GPUs (a job runs on one GPU)."""
        return max((int(g.get("memory_total_mb", 0)) - int(g.get("memory_used_mb", 0)) for g in self.gpus), default=0)
