"""Reads for choosing a small model and building its dataset: the catalog, a task's candidates, datasets."""

from typing import Any
from uuid import UUID

from django.conf import settings
from django.db.models import QuerySet

from apps.common.errors import NotFound
from apps.common.ids import as_uuid
from apps.discovery.models import TaskCluster
from apps.projects.models import Project
from apps.specialists.catalog import weights_present
from apps.specialists.models import CatalogModel, TrainingDataset
from apps.specialists.selection import Ranking, candidates_rank, largest_gpu_mb


def catalog_model_list(*, enabled_only: bool = True) -> list[CatalogModel]:
    models = CatalogModel.objects.all()
    return list(models.filter(enabled=True) if enabled_only else models)


def catalog_model_get(*, ref: Any) -> CatalogModel:
    """By catalog id or by Hugging Face id (or local path)."""
    uid = as_uuid(ref)
    model = CatalogModel.objects.filter(id=uid).first() if uid else None
    if model is None and isinstance(ref, str) and ref:
        model = CatalogModel.objects.filter(hf_id=ref).first()
    if model is None:
        raise NotFound(f"No model {ref} in the catalog")
    return model


def weights_by_model(*, models: list[CatalogModel]) -> dict[UUID, tuple[bool, str]]:
    return {m.id: weights_present(m) for m in models}


def candidate_ranking(*, cluster: TaskCluster) -> Ranking:
    """The task's candidates under this installation's licence list and its largest registered GPU."""
    return candidates_rank(
        cluster, licence_allow_list=settings.SPECIALIST_LICENCE_ALLOW, gpu_memory_mb=largest_gpu_mb()
    )


def dataset_list(*, project: Project, cluster: TaskCluster | None = None) -> QuerySet[TrainingDataset]:
    datasets = TrainingDataset.objects.filter(project=project).select_related("base_model", "cluster")
    return datasets.filter(cluster=cluster) if cluster is not None else datasets


def dataset_get(*, project: Project, dataset_id: Any) -> TrainingDataset:
    uid = as_uuid(dataset_id)
    dataset = dataset_list(project=project).filter(id=uid).first() if uid else None
    if dataset is None:
        raise NotFound("No such dataset in this project")
    return dataset
