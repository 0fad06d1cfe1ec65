"""Choosing a small model for a task (its ranked candidates) and building its dataset."""

from typing import Any, cast
from uuid import UUID

from django.contrib import messages
from django.http import FileResponse, HttpResponse
from django.shortcuts import redirect
from django.urls import path, reverse
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect

from apps.common import errors
from apps.common.pages import render_page, wants_fragment
from apps.discovery.selectors import task_cluster_get
from apps.discovery.texts import OUTPUT_KIND_LABELS
from apps.jobs.models import JobStatus
from apps.projects.forms import add_domain_error
from apps.projects.pages import ProjectRequest, project_page
from apps.specialists import selectors, services
from apps.specialists.catalog import DEFAULT_BATCH_SIZE, DEFAULT_SEQ_LEN, MemoryEstimate, catalog_note
from apps.specialists.forms import DatasetForm
from apps.specialists.models import Split, TrainingDataset
from apps.specialists.selection import Candidate
from apps.specialists.weights import CLASSIFIER_ENCODER

SHOW = ("all", "eligible")


def _gb(mb: int) -> str:
    return f"{mb / 1024:.1f} GB"


def _memory_text(memory: MemoryEstimate) -> dict[str, str]:
    return {
        "serve_bf16": _gb(memory.serve_bf16_mb),
        "serve_4bit": _gb(memory.serve_4bit_mb),
        "train_lora": _gb(memory.train_lora_mb),
        "train_qlora": _gb(memory.train_qlora_mb),
    }


def _candidates_page(
    request: ProjectRequest, cluster_id: UUID, *, form: DatasetForm | None = None, status: int = 200
) -> HttpResponse:
    cluster = task_cluster_get(project=request.project, cluster_id=cluster_id)
    ranking = selectors.candidate_ranking(cluster=cluster)
    show = request.GET.get("show") if request.GET.get("show") in SHOW else "all"
    weights = selectors.weights_by_model(models=[c.model for c in ranking.candidates if c.model])
    encoder = selectors.classifier_weights()
    rows: list[dict[str, Any]] = []
    for candidate in ranking.candidates:
        if show == "eligible" and not candidate.eligible:
            continue
        model = candidate.model
        rows.append(
            {
                "candidate": candidate,
                "weights": weights[model.id] if model else encoder,
                "note": catalog_note(model.hf_id) if model else "",
                "memory": _memory_text(candidate.memory) if candidate.memory else None,
            }
        )
    context = {
        "cluster": cluster,
        "ranking": ranking,
        "recommended": ranking.recommended,
        "rows": rows,
        "show": show,
        "kind": OUTPUT_KIND_LABELS.get(cluster.output_kind, cluster.output_kind or "Not known yet"),
        "classifier_encoder": CLASSIFIER_ENCODER,
        "eligible_count": sum(1 for c in ranking.candidates if c.eligible),
        "gpu_gb": _gb(ranking.gpu_memory_mb),
        "seq_len": DEFAULT_SEQ_LEN,
        "batch_size": DEFAULT_BATCH_SIZE,
        "hidden": sum(1 for c in ranking.candidates if not c.eligible) if show == "eligible" else 0,
        "form": form or DatasetForm(candidates=ranking.candidates),
        "datasets": list(selectors.dataset_list(project=request.project, cluster=cluster)[:20]),
    }
    fragment = "dataset-form" if form is not None else "candidate-list"
    return render_page(request, "specialists/candidates.html", context, fragment=fragment, status=status)


@require_GET
@project_page("view")
def candidates(request: ProjectRequest, cluster_id: UUID) -> HttpResponse:
    return _candidates_page(request, cluster_id)


@require_POST
@project_page("manage_tasks")
def dataset_create(request: ProjectRequest, cluster_id: UUID) -> HttpResponse:
    cluster = task_cluster_get(project=request.project, cluster_id=cluster_id)
    form = DatasetForm(request.POST, candidates=selectors.candidate_ranking(cluster=cluster).candidates)
    if not form.is_valid():
        return _candidates_page(request, cluster_id, form=form, status=400)
    chosen: Candidate = form.chosen
    try:
        dataset = services.dataset_create(
            cluster=cluster,
            base_model=chosen.model,
            kind=chosen.kind,
            val_fraction=form.cleaned_data["val_fraction"],
            test_fraction=form.cleaned_data["test_fraction"],
            seed=form.cleaned_data["seed"],
            created_by=request.user,
        )
    except errors.DomainError as exc:
        add_domain_error(form, exc)
        return _candidates_page(request, cluster_id, form=form, status=exc.status)
    url = reverse("specialists:dataset", kwargs={"slug": request.project.slug, "dataset_id": dataset.id})
    if wants_fragment(request):
        return HttpResponseClientRedirect(url)
    messages.info(request, "Building the dataset: this page follows the build.")
    return redirect(url)


def _dataset_context(request: ProjectRequest, dataset: TrainingDataset) -> dict[str, Any]:
    slug = request.project.slug
    page = reverse("specialists:dataset", kwargs={"slug": slug, "dataset_id": dataset.id})
    counts = {Split.TRAIN: dataset.train_count, Split.VAL: dataset.val_count, Split.TEST: dataset.test_count}
    total = sum(counts.values()) or 1
    return {
        "dataset": dataset,
        "cluster": dataset.cluster,
        "built": dataset.status == JobStatus.SUCCEEDED,
        "splits": [
            {
                "split": split,
                "label": split.label,
                "count": counts[split],
                "share": counts[split] / total,
                "url": reverse(
                    "specialists:dataset_file", kwargs={"slug": slug, "dataset_id": dataset.id, "split": split.value}
                ),
            }
            for split in (Split.TRAIN, Split.VAL, Split.TEST)
        ],
        # The training pages (views/training.py) live under the dataset: /datasets/<id>/train/.
        "train_url": f"{page}train/",
        "siblings": [d for d in selectors.dataset_list(project=request.project, cluster=dataset.cluster)[:10]],
    }


@require_GET
@project_page("view")
def dataset_detail(request: ProjectRequest, dataset_id: UUID) -> HttpResponse:
    """The dataset; while its build runs, the build's progress (polled every 2 s until it ends)."""
    dataset = selectors.dataset_get(project=request.project, dataset_id=dataset_id)
    context = _dataset_context(request, dataset)
    return render_page(request, "specialists/dataset_detail.html", context, fragment="dataset-summary")


@require_GET
@project_page("view")
def dataset_file(request: ProjectRequest, dataset_id: UUID, split: str) -> HttpResponse:
    """Streamed from disk: a dataset can be large."""
    dataset = selectors.dataset_get(project=request.project, dataset_id=dataset_id)
    file_path = selectors.dataset_file(dataset=dataset, split=split)
    response = FileResponse(
        file_path.open("rb"),
        as_attachment=True,
        filename=f"{dataset.cluster.code}-{str(dataset.id)[:8]}-{split}.jsonl",
        content_type="application/x-ndjson",
    )
    return cast(HttpResponse, response)  # project_page wraps views returning HttpResponse; this one streams


urlpatterns = [
    path("tasks/<uuid:cluster_id>/", candidates, name="candidates"),
    path("tasks/<uuid:cluster_id>/datasets/", dataset_create, name="dataset_create"),
    path("datasets/<uuid:dataset_id>/", dataset_detail, name="dataset"),
    path("datasets/<uuid:dataset_id>/files/<str:split>.jsonl", dataset_file, name="dataset_file"),
]
