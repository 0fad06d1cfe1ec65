"""Reads: whether a specialist in production still fits its task (step S6). Three figures per task, all
aggregate SQL:

- new trainable calls: the task's calls a dataset may hold (trainable, answered) that its specialist's
  dataset does not;
- low fit: of the task's calls assigned in the last RETRAIN_RECENT_DAYS (not in that dataset), the share
  whose `cluster_confidence` is below the RETRAIN_FIT_PERCENTILE-th percentile of its training calls'
  (discovery's confidence: 1 at a task centre's median member, 0 at its threshold);
- calls that fit no task: of the project's calls assigned in that window, those given no task (drift, as
  discovery's assignment records it).

Each figure past its threshold (settings RETRAIN_*) is a reason to propose retraining."""

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Aggregate, Count, FloatField, Q, QuerySet
from django.utils import timezone

from apps.calls.models import Call
from apps.serving.models import Deployment
from apps.specialists.models import DatasetExample, Split, TrainingDataset
from apps.specialists.selectors import dataset_calls


class Percentile(Aggregate):
    """Postgres' percentile_cont: the value below which `fraction` of the rows fall."""

    function = "percentile_cont"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()


@dataclass(frozen=True)
class Reason:
    code: str  # new_calls, low_fit or unassigned
    message: str


@dataclass(frozen=True)
class DriftFigures:
    days: int  # the window of "recent"
    dataset_calls: int  # the specialist's dataset: train + validation + test
    new_calls: int  # trainable calls of the task not in that dataset
    fit_floor: float | None  # the training calls' RETRAIN_FIT_PERCENTILE-th percentile of confidence
    recent_calls: int  # the task's calls assigned in the window, not in the dataset
    low_fit_calls: int  # of those, below fit_floor
    project_recent_calls: int  # the project's calls assigned in the window
    unassigned_calls: int  # of those, given no task

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _examples(dataset: TrainingDataset, split: str | None = None) -> QuerySet[DatasetExample]:
    examples = DatasetExample.objects.filter(dataset=dataset)
    return examples.filter(split=split) if split else examples


def _fit_floor(dataset: TrainingDataset) -> float | None:
    """The confidence below which RETRAIN_FIT_PERCENTILE % of the dataset's training calls fall."""
    training = Call.objects.filter(
        id__in=_examples(dataset, Split.TRAIN).values("call_id"), cluster_confidence__isnull=False
    )
    fraction = settings.RETRAIN_FIT_PERCENTILE / 100
    floor = training.aggregate(floor=Percentile("cluster_confidence", fraction=fraction))["floor"]
    return float(floor) if floor is not None else None


def drift_figures(*, deployment: Deployment, now: datetime | None = None) -> DriftFigures:
    """The three figures for a deployed specialist (a deployment whose candidate is a training run)."""
    run = deployment.evaluation.training_run
    assert run is not None, "only a trained specialist has a dataset to compare with"
    dataset, cluster = run.dataset, deployment.cluster
    since = (now or timezone.now()) - timedelta(days=settings.RETRAIN_RECENT_DAYS)
    in_dataset = _examples(dataset).values("call_id")
    floor = _fit_floor(dataset)
    low = Q(cluster_confidence__lt=floor) if floor is not None else Q(pk=None)
    recent = (
        Call.objects.filter(task_cluster=cluster, cluster_assigned_at__gte=since, cluster_confidence__isnull=False)
        .exclude(id__in=in_dataset)
        .aggregate(total=Count("id"), low=Count("id", filter=low))
    )
    project = Call.objects.filter(project_id=deployment.project_id, cluster_assigned_at__gte=since).aggregate(
        total=Count("id"), unassigned=Count("id", filter=Q(task_cluster=None))
    )
    return DriftFigures(
        days=settings.RETRAIN_RECENT_DAYS,
        dataset_calls=dataset.train_count + dataset.val_count + dataset.test_count,
        new_calls=dataset_calls(cluster=cluster).exclude(id__in=in_dataset).count(),
        fit_floor=round(floor, 4) if floor is not None else None,
        recent_calls=recent["total"],
        low_fit_calls=recent["low"],
        project_recent_calls=project["total"],
        unassigned_calls=project["unassigned"],
    )


def drift_reasons(figures: DriftFigures) -> list[Reason]:
    """The thresholds the figures pass, each with what it saw in words; empty: no reason to retrain."""
    reasons: list[Reason] = []
    wanted = max(settings.RETRAIN_NEW_CALLS_MIN, settings.RETRAIN_NEW_CALLS_SHARE * figures.dataset_calls)
    if figures.new_calls >= wanted:
        reasons.append(
            Reason(
                "new_calls",
                f"{figures.new_calls:,} new trainable calls since its dataset of {figures.dataset_calls:,} calls was "
                "built: a dataset built now learns from them.",
            )
        )
    minimum = settings.RETRAIN_MIN_RECENT_CALLS
    low_fit = figures.low_fit_calls and figures.low_fit_calls >= settings.RETRAIN_LOW_FIT_SHARE * figures.recent_calls
    if figures.recent_calls >= minimum and low_fit:
        share = figures.low_fit_calls / figures.recent_calls
        reasons.append(
            Reason(
                "low_fit",
                f"{share:.0%} of the task's {figures.recent_calls:,} calls of the last {figures.days} days fit it less "
                f"well than {100 - settings.RETRAIN_FIT_PERCENTILE:g}% of its training calls did (confidence below "
                f"{figures.fit_floor:.2f}): its calls have changed.",
            )
        )
    total = figures.project_recent_calls
    unassigned = figures.unassigned_calls and figures.unassigned_calls >= settings.RETRAIN_UNASSIGNED_SHARE * total
    if total >= minimum and unassigned:
        share = figures.unassigned_calls / total
        reasons.append(
            Reason(
                "unassigned",
                f"{share:.0%} of the project's {total:,} calls of the last {figures.days} days fit no task: run "
                "discovery again, then retrain on the calls that join this task.",
            )
        )
    return reasons
