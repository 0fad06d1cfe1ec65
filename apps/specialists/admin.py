from typing import Any

from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse

from apps.common.errors import DomainError
from apps.projects.forms import add_domain_error
from apps.specialists.forms import CatalogModelAddForm
from apps.specialists.models import CatalogModel, TrainingDataset
from apps.specialists.services import catalog_model_add


@admin.register(CatalogModel)
class CatalogModelAdmin(admin.ModelAdmin):
    """The add page takes a Hugging Face id or a local folder (read for its figures); the rest is edited as usual."""

    list_display = (
        "name",
        "hf_id",
        "params_b",
        "licence",
        "context_window",
        "tool_calling",
        "price_per_hour",
        "enabled",
        "seeded",
    )
    list_editable = ("price_per_hour",)
    list_filter = ("enabled", "seeded", "tool_calling", "licence", "family")
    search_fields = ("name", "hf_id", "family")
    readonly_fields = ("seeded", "added_by", "created_at")

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: Any = None) -> HttpResponse:
        if not self.has_add_permission(request):
            return super().add_view(request, form_url, extra_context)
        form = CatalogModelAddForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                model = catalog_model_add(
                    hf_id_or_path=data["hf_id"],
                    name=data["name"],
                    family=data["family"],
                    params_b=data["params_b"],
                    context_window=data["context_window"],
                    licence=data["licence"],
                    licence_url=data["licence_url"],
                    source_url=data["source_url"],
                    tool_calling=data["tool_calling"],
                    added_by=request.user if request.user.is_authenticated else None,
                )
            except DomainError as exc:
                add_domain_error(form, exc)
            else:
                messages.success(request, f"{model} added to the catalog. Check its figures below.")
                return HttpResponseRedirect(reverse("admin:specialists_catalogmodel_change", args=[model.pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Add a model by Hugging Face id or local folder",
            "form": form,
            "add": True,
            "has_view_permission": self.has_view_permission(request),
        }
        return TemplateResponse(request, "admin/specialists/catalogmodel/add_from_source.html", context)


@admin.register(TrainingDataset)
class TrainingDatasetAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "project",
        "cluster",
        "kind",
        "base_model",
        "status",
        "train_count",
        "val_count",
        "test_count",
    )
    list_filter = ("kind", "status")
    readonly_fields = [f.name for f in TrainingDataset._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
