from django.contrib import admin
from django.http import HttpRequest

from apps.curation.models import CurationPolicy, RescanJob


@admin.register(CurationPolicy)
class CurationPolicyAdmin(admin.ModelAdmin):
    """Owners edit the policy on its page (live preview, versioning); the admin only looks."""

    list_display = ["project", "version", "operator"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: CurationPolicy | None = None) -> bool:
        return False


@admin.register(RescanJob)
class RescanJobAdmin(admin.ModelAdmin):
    list_display = ["created_at", "project", "status", "progress", "done", "changed", "message"]
    list_filter = ["status", "project"]
    list_select_related = ["project"]

    def get_readonly_fields(self, request: HttpRequest, obj: RescanJob | None = None) -> list[str]:
        return [field.name for field in RescanJob._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
