"""Training pages: the form that starts a run on a dataset, and the run's page (live progress, loss
curve, cancel, the artifact when done)."""

from typing import Any
from uuid import UUID

from django import forms
from django.http import HttpResponse
from django.shortcuts import redirect
from django.urls import path
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.common import errors
from apps.common.pages import render_page, wants_fragment
from apps.projects.pages import ProjectRequest, project_page, require_ability
from apps.specialists import selectors, services
from apps.specialists.charts import Series, line_chart
from apps.specialists.models import SpecialistKind, TrainingDataset, TrainingRun
from apps.specialists.params import memory_estimate_mb, param_specs, training_params

METHOD_LABELS = {"lora": "LoRA", "qlora": "QLoRA (4-bit base model)"}
LORA_FIELDS = ("lora_r", "lora_alpha", "lora_dropout")
METRICS_SHOWN = ("val_loss", "test_accuracy", "majority_accuracy", "majority_label", "val_accuracy", "artifact_uri")


class TrainForm(forms.Form):
    """The parameters people set from the page (the rest keep their defaults; the API sets them all)."""

    def __init__(self, *args: Any, kind: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for spec in param_specs(kind):
            if not spec.form:
                continue
            common = {"label": spec.label, "help_text": spec.help, "initial": spec.default}
            field: forms.Field
            if spec.choices:
                field = forms.ChoiceField(choices=[(c, METHOD_LABELS.get(c, c)) for c in spec.choices], **common)
            elif spec.type is bool:
                field = forms.BooleanField(required=False, **common)
            elif spec.type is int:
                field = forms.IntegerField(
                    min_value=None if spec.minimum is None else int(spec.minimum),
                    max_value=None if spec.maximum is None else int(spec.maximum),
                    **common,
                )
            else:
                field = forms.FloatField(
                    min_value=spec.minimum, max_value=spec.maximum, widget=forms.NumberInput(attrs={"step": "any"}),
                    **common,
                )  # fmt: skip
            self.fields[spec.name] = field

    def groups(self) -> list[tuple[str, list[forms.BoundField]]]:
        """The fields in the order shown: the run, then the adapter (LoRA only)."""
        run = [self[name] for name in self.fields if name not in LORA_FIELDS]
        lora = [self[name] for name in self.fields if name in LORA_FIELDS]
        return [(title, fields) for title, fields in (("Training", run), ("LoRA adapter", lora)) if fields]


def _dataset(request: ProjectRequest, dataset_id: UUID) -> TrainingDataset:
    return selectors.dataset_get(project=request.project, dataset_id=dataset_id)


def _blocker(dataset: TrainingDataset) -> str:
    """Why no registered worker could run this dataset's run with the default parameters ('' if one could)."""
    params = training_params(kind=dataset.kind, overrides=None)
    base = dataset.base_model if dataset.kind == SpecialistKind.LORA else None
    return selectors.training_run_blocker(
        kind=dataset.kind,
        base_model=base,
        method=params.get("method", "logreg"),
        memory_estimate_mb=memory_estimate_mb(params_b=base.params_b, params=params) if base else 0,
    )


def _form_page(request: ProjectRequest, dataset: TrainingDataset, form: TrainForm, status: int = 200) -> HttpResponse:
    context = {
        "dataset": dataset,
        "cluster": dataset.cluster,
        "form": form,
        "is_lora": dataset.kind == SpecialistKind.LORA,
        "blocker": "" if form.is_bound else _blocker(dataset),
        "runs": dataset.training_runs.order_by("-created_at")[:10],
    }
    return render_page(request, "specialists/train_form.html", context, fragment="train-form", status=status)


@require_http_methods(["GET", "POST"])
@project_page("view")
def dataset_train(request: ProjectRequest, dataset_id: UUID) -> HttpResponse:
    dataset = _dataset(request, dataset_id)
    if request.method == "GET":
        return _form_page(request, dataset, TrainForm(kind=dataset.kind))
    require_ability(request, "manage_tasks")
    form = TrainForm(request.POST, kind=dataset.kind)
    status = 400
    if form.is_valid():
        try:
            run = services.training_run_create(dataset=dataset, params=form.cleaned_data, created_by=request.user)
        except errors.DomainError as exc:
            name = (exc.field or "").removeprefix("params.")
            form.add_error(name if name in form.fields else None, exc.message)
            status = exc.status
        else:
            return redirect("specialists:training_run", slug=request.project.slug, run_id=run.id)
    return _form_page(request, dataset, form, status=status)


# --- the run's page --------------------------------------------------------------------------------------


def _chart(run: TrainingRun) -> Any:
    train = [(h["step"], h["train_loss"]) for h in run.history if h.get("train_loss") is not None]
    val = [(h["step"], h["val_loss"]) for h in run.history if h.get("val_loss") is not None]
    if not train and not val:
        return None
    return line_chart(
        [Series("Training loss", train), Series("Validation loss", val, dots=True)],
        title=f"Loss by step: training ({len(train)} points) and validation ({len(val)} points)",
        y_label="Loss",
    )


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def _run_context(run: TrainingRun) -> dict[str, Any]:
    metrics = run.metrics or {}
    return {
        "run": run,
        "dataset": run.dataset,
        "cluster": run.cluster,
        "chart": _chart(run),
        "eta": _duration(run.eta_s) if run.eta_s and not run.is_terminal else "",
        "notes": metrics.get("notes", []),
        "m": {name: metrics.get(name) for name in METRICS_SHOWN},
        "params": sorted(run.params.items()),
        "last": run.history[-1] if run.history else None,
        "is_lora": run.kind == SpecialistKind.LORA,
    }


@require_GET
@project_page("view")
def run_detail(request: ProjectRequest, run_id: UUID) -> HttpResponse:
    run = selectors.training_run_get(project=request.project, run_id=run_id)
    return render_page(request, "specialists/training_run.html", _run_context(run), fragment="run-status")


@require_POST
@project_page("manage_tasks")
def run_cancel(request: ProjectRequest, run_id: UUID) -> HttpResponse:
    run = selectors.training_run_get(project=request.project, run_id=run_id)
    if not run.is_terminal:
        run = services.training_run_cancel(run=run)
    if wants_fragment(request):
        return render_page(request, "specialists/training_run.html", _run_context(run), fragment="run-status")
    return redirect("specialists:training_run", slug=request.project.slug, run_id=run.id)


urlpatterns = [
    path("datasets/<uuid:dataset_id>/train/", dataset_train, name="dataset_train"),
    path("runs/<uuid:run_id>/", run_detail, name="training_run"),
    path("runs/<uuid:run_id>/cancel/", run_cancel, name="training_run_cancel"),
]
