from django.contrib import admin
from django.http import HttpRequest

from apps.discovery.models import DiscoveryRun, TaskCluster


@admin.register(TaskCluster)
class TaskClusterAdmin(admin.ModelAdmin):
    """People name, merge, split and ignore tasks on the task pages; the admin only looks."""

    list_display = ["code", "name", "project", "status"]
    list_filter = ["status", "project"]
    search_fields = ["name"]
    list_select_related = ["project"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: TaskCluster | None = None) -> bool:
        return False


@admin.register(DiscoveryRun)
class DiscoveryRunAdmin(admin.ModelAdmin):
    list_display = ["created_at", "project", "kind", "status", "progress", "clusters_found", "message"]
    list_filter = ["status", "kind", "project"]
    list_select_related = ["project"]
    exclude = ["map_points"]

    def get_readonly_fields(self, request: HttpRequest, obj: DiscoveryRun | None = None) -> list[str]:
        return [field.name for field in DiscoveryRun._meta.fields if field.name != "map_points"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
