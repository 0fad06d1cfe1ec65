from django.contrib import admin

from apps.serving.models import Deployment, RetrainProposal


@admin.register(Deployment)
class DeploymentAdmin(admin.ModelAdmin):
    """Read-only: deployments change through the API, so the gateway is told of every change."""

    list_display = ("created_at", "project", "cluster", "backend", "mode", "canary_percent", "status", "healthy")
    list_filter = ("status", "mode", "backend", "project")

    def has_add_permission(self, request: object) -> bool:
        return False

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False


@admin.register(RetrainProposal)
class RetrainProposalAdmin(admin.ModelAdmin):
    """Read-only: a round moves through its services (apps.serving.retraining), step by step."""

    list_display = ("created_at", "project", "cluster", "status", "step", "who")
    list_filter = ("status", "project")

    def has_add_permission(self, request: object) -> bool:
        return False

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False
