from django.contrib import admin

from apps.evaluation.models import Evaluation, ModelEndpoint


@admin.register(ModelEndpoint)
class ModelEndpointAdmin(admin.ModelAdmin):
    """Endpoints are added through the API; the encrypted key is never shown or edited here."""

    list_display = ("name", "project", "model", "base_url", "created_at")
    list_filter = ("project",)
    search_fields = ("name", "model", "base_url")
    exclude = ("api_key_encrypted",)
    readonly_fields = ("created_by", "created_at")


@admin.register(Evaluation)
class EvaluationAdmin(admin.ModelAdmin):
    list_display = ("id", "project", "cluster", "endpoint", "status", "verdict", "agreement", "created_at")
    list_filter = ("status", "verdict", "project")

    def has_add_permission(self, request: object) -> bool:
        return False

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False
