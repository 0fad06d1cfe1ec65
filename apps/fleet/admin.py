from django.contrib import admin
from django.http import HttpRequest

from apps.fleet.models import GpuWorker


@admin.register(GpuWorker)
class GpuWorkerAdmin(admin.ModelAdmin):
    """Workers register themselves; the admin can drain one, or delete the row of a retired machine
    (a worker that starts again registers anew). Day-to-day control is on the GPU workers page."""

    list_display = ["name", "host", "draining", "concurrency", "current_job", "heartbeat_at"]
    list_filter = ["draining"]
    search_fields = ["name", "host"]
    fields = ["name", "host", "queues", "gpus", "concurrency", "draining", "current_job", "started_at", "heartbeat_at"]
    readonly_fields = ["name", "host", "queues", "gpus", "concurrency", "current_job", "started_at", "heartbeat_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
