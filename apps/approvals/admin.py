from django.contrib import admin

from apps.approvals.models import SwapApproval


@admin.register(SwapApproval)
class SwapApprovalAdmin(admin.ModelAdmin):
    """The audit, read-only: decisions are recorded on the evaluation report or through the API."""

    list_display = ("created_at", "project", "cluster", "decision", "verdict", "who")
    list_filter = ("decision", "verdict", "project")
    search_fields = ("who", "comment", "reason_not_ready")

    def has_add_permission(self, request: object) -> bool:
        return False

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: object, obj: object = None) -> bool:
        return False
