from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from apps.calls import services
from apps.calls.models import Call, ImportJob, ModelPrice, RepriceJob


@admin.register(Call)
class CallAdmin(admin.ModelAdmin):
    """Calls arrive through the API and uploads; the admin only looks."""

    list_display = ["timestamp", "project", "agent", "model", "workload", "status", "latency_ms", "cost"]
    list_filter = ["status", "project", "model"]
    search_fields = ["client_id", "agent", "workload", "preview", "trace_id"]
    list_select_related = ["project"]
    show_full_result_count = False
    ordering = ["-timestamp"]

    def get_readonly_fields(self, request: HttpRequest, obj: Call | None = None) -> list[str]:
        return [field.name for field in Call._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Call | None = None) -> bool:
        return False


@admin.register(ModelPrice)
class ModelPriceAdmin(admin.ModelAdmin):
    list_display = ["model", "input_per_mtok", "output_per_mtok", "updated_at"]
    list_editable = ["input_per_mtok", "output_per_mtok"]
    search_fields = ["model"]
    actions = ["reprice"]

    @admin.action(description="Re-price stored calls")
    def reprice(self, request: HttpRequest, queryset: QuerySet[ModelPrice]) -> None:
        job = services.reprice_job_create(model_prices=list(queryset), created_by=request.user)  # type: ignore[arg-type]
        self.message_user(
            request,
            f"Re-pricing the calls of {len(job.prefixes)} model(s) in the background: see Re-pricing jobs.",
            messages.SUCCESS,
        )


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    list_display = [
        "filename",
        "project",
        "status",
        "progress",
        "accepted",
        "duplicates",
        "rejected_count",
        "created_at",
    ]
    list_filter = ["status", "project"]
    search_fields = ["filename"]
    list_select_related = ["project"]

    def get_readonly_fields(self, request: HttpRequest, obj: ImportJob | None = None) -> list[str]:
        return [field.name for field in ImportJob._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(RepriceJob)
class RepriceJobAdmin(admin.ModelAdmin):
    list_display = ["created_at", "status", "progress", "updated", "message"]
    list_filter = ["status"]

    def get_readonly_fields(self, request: HttpRequest, obj: RepriceJob | None = None) -> list[str]:
        return [field.name for field in RepriceJob._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
