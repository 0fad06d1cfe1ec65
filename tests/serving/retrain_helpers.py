"""A classifier specialist in production on a sentiment task made of the sample's real calls, and the calls that
arrive after it: new trainable calls of the task (fitting it well or badly), and calls that fit no task.

`in_production(trained=False)` makes the training run and its evaluation as rows (fast: the drift checks need only
the dataset); `trained=True` trains and evaluates it for real, as the workers would (seconds, on the CPU)."""

from typing import Any

from django.contrib.auth.models import User
from django.utils import timezone

from apps.approvals.services import Actor, swap_approval_decide
from apps.calls.models import Call
from apps.discovery.models import TaskCluster
from apps.evaluation import execution as evaluating
from apps.evaluation.models import Evaluation
from apps.evaluation.services import evaluation_create
from apps.jobs.models import JobStatus
from apps.projects.models import Project
from apps.serving.models import Deployment
from apps.serving.services import deployment_create, deployment_health_record
from apps.specialists import execution as training
from apps.specialists.models import SpecialistKind, TrainingRun
from apps.specialists.services import training_run_create
from tests.specialists.selection_helpers import build, make_task, stored
from tests.specialists.workers_helpers import this_machine

TASK_CALLS = 40
RECIPE = {"c": 0.5, "max_iter": 300, "balanced": True}


def sentiment(sample_records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in sample_records if r["task"] == "sentiment_classification"]


def _evaluated_row(task: TaskCluster, run: TrainingRun) -> Evaluation:
    return Evaluation.objects.create(
        project=task.project,
        cluster=task,
        training_run=run,
        kind=task.output_kind,
        target=0.8,
        status=JobStatus.SUCCEEDED,
        verdict="ready",
        agreement=0.9,
        test_hash="f" * 64,
        progress=1.0,
    )


def in_production(
    project: Project, owner: User, sample_records: list[dict[str, Any]], *, trained: bool = False
) -> Deployment:
    """The task's first TASK_CALLS sentiment calls (confidence spread from 0.50 to 0.89), a classifier dataset of
    them, its specialist approved and deployed live at 100%."""
    this_machine()
    task = make_task(project, calls=stored(project, sentiment(sample_records)[:TASK_CALLS]))
    for i, call in enumerate(Call.objects.filter(task_cluster=task).order_by("client_id")):
        Call.objects.filter(id=call.id).update(cluster_confidence=0.5 + i / 100)
    dataset = build(task, None, kind=SpecialistKind.CLASSIFIER)
    if trained:
        run = training_run_create(dataset=dataset, params=RECIPE, created_by=None)
        training.training_run_execute(run_id=run.id)
        run.refresh_from_db()
        assert run.status == "succeeded", run.error
        evaluation = evaluation_create(cluster=task, training_run=run, target=0.8)
        evaluating.evaluation_run(evaluation_id=evaluation.id)
        evaluation.refresh_from_db()
        assert evaluation.status == "succeeded", evaluation.error
    else:
        run = TrainingRun.objects.create(
            project=project,
            cluster=task,
            dataset=dataset,
            kind=SpecialistKind.CLASSIFIER,
            method="logreg",
            params=RECIPE,
            queue="cpu",
            status=JobStatus.SUCCEEDED,
            artifact_path="/nowhere",
        )
        evaluation = _evaluated_row(task, run)
    approval = swap_approval_decide(
        evaluation=evaluation,
        actor=Actor(user=owner),
        decision="approve",
        comment="Good enough.",
        reason_not_ready="A few test calls only." if evaluation.verdict != "ready" else "",
    )
    deployment = deployment_create(approval=approval, actor=Actor(user=owner), mode="live", canary_percent=100)
    return deployment_health_record(deployment=deployment, healthy=True)


def arrive(
    project: Project,
    records: list[dict[str, Any]],
    *,
    task: TaskCluster | None,
    confidence: float | None = 0.9,
) -> list[Call]:
    """Calls stored and assigned now, as discovery's assignment records it: to `task` with `confidence`, or to
    no task (None)."""
    calls = stored(project, records)
    Call.objects.filter(id__in=[c.id for c in calls]).update(
        task_cluster=task,
        cluster_confidence=confidence if task is not None else None,
        cluster_assigned_at=timezone.now(),
    )
    return calls


def off_task(n: int, prefix: str = "other") -> list[dict[str, Any]]:
    """n calls of a kind the project has no task for."""
    return [
        {
            "id": f"{prefix}-{i:03d}",
            "request": {
                "model": "gpt-4o",
                "messages": [{"role": "user", "content": f"Translate sentence {i} to Welsh."}],
            },
            "response": {"role": "assistant", "content": f"Brawddeg {i}."},
        }
        for i in range(n)
    ]
