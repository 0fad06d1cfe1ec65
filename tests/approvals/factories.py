"""Evaluated candidates for approval and report tests, made directly: a label task of stored calls, an
endpoint that is never called, and a finished evaluation with its scored calls, summed up by the real
scoring code. No model is asked anything."""

import itertools
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.utils import timezone

from apps.calls.models import Call
from apps.discovery.models import TaskCluster
from apps.evaluation import services
from apps.evaluation.models import Evaluation, EvaluationResult, ModelEndpoint
from apps.evaluation.scoring import score, summarise
from apps.evaluation.scoring.stats import calls_to_settle, verdict, wilson_interval
from apps.evaluation.selectors import test_split_hash
from apps.jobs.models import JobStatus
from apps.projects.models import Project
from tests.conftest import make_call
from tests.specialists.selection_helpers import make_task, stored

_numbers = itertools.count(1)
LABELS = ("positive", "negative")


def label_task(project: Project, calls: int = 40, **fields: Any) -> TaskCluster:
    """A label task of `calls` stored calls, answered "positive" / "negative" in turn."""
    n = next(_numbers)
    records = [
        make_call(
            id=f"task{n}-{i:03d}",
            request={
                "model": "gpt-4o",
                "messages": [
                    {"role": "system", "content": "Classify the review as positive or negative."},
                    {"role": "user", "content": f"Review {i} of product {n}: it was {'great' if i % 2 else 'awful'}."},
                ],
            },
            response={"role": "assistant", "content": LABELS[i % 2]},
        )
        for i in range(calls)
    ]
    return make_task(project, calls=stored(project, records), labels=list(LABELS), **fields)


def endpoint(project: Project, name: str = "qwen-small", model: str = "qwen2.5-0.5b-instruct") -> ModelEndpoint:
    return services.endpoint_create(
        project=project, name=name, base_url="http://127.0.0.1:9/v1", model=model, price_per_hour=Decimal("0.5")
    )


def evaluated(
    cluster: TaskCluster,
    candidate: ModelEndpoint,
    *,
    wrong: int = 2,
    target: float = 0.8,
    status: str = JobStatus.SUCCEEDED,
    cost: Decimal | None = Decimal("0.100000"),
    llm_cost: Decimal | None = Decimal("3.500000"),
    latency_ms: float = 120.0,
) -> Evaluation:
    """A finished evaluation of `candidate` on the task's calls: the first `wrong` calls (in the order they were
    made) get the other label, the rest the LLM's. Agreement, interval, verdict and metrics as the job computes
    them."""
    calls = list(Call.objects.filter(task_cluster=cluster).order_by("client_id"))
    evaluation = Evaluation.objects.create(
        project=cluster.project,
        cluster=cluster,
        endpoint=candidate,
        kind=cluster.output_kind,
        target=target,
        status=status,
        stage="done" if status == JobStatus.SUCCEEDED else "scoring",
        progress=1.0 if status == JobStatus.SUCCEEDED else 0.4,
    )
    if status != JobStatus.SUCCEEDED:
        return evaluation
    results, scores = [], []
    for i, call in enumerate(calls):
        reference = call.response or {}
        answer = reference.get("content")
        output = {"role": "assistant", "content": LABELS[1 - LABELS.index(answer)] if i < wrong else answer}
        scored = score(cluster.output_kind, call.request, reference, output)
        scores.append(scored)
        results.append(
            EvaluationResult(
                evaluation=evaluation,
                call=call,
                agree=scored.agree,
                reason=scored.reason,
                details=scored.details,
                reference=reference,
                output=output,
                latency_ms=latency_ms,
                input_tokens=40,
                output_tokens=2,
            )
        )
    EvaluationResult.objects.bulk_create(results)
    n, agreed = len(calls), sum(1 for s in scores if s.agree)
    interval = wilson_interval(agreed, n)
    decided = verdict(interval, target)
    metrics = summarise(cluster.output_kind, scores, labels=list(LABELS)) | {
        "cost_basis": "per hour of the host x each call's latency",
        "output_tokens_mean": 2.0,
        "llm": {"latency_p50_ms": 420.0, "latency_p95_ms": 900.0, "priced_calls": n},
    }
    Evaluation.objects.filter(id=evaluation.id).update(
        test_hash=test_split_hash(c.id for c in calls),
        test_calls=n,
        calls_done=n,
        agreed=agreed,
        agreement=interval.estimate,
        agreement_low=interval.low,
        agreement_high=interval.high,
        verdict=decided,
        calls_to_settle=calls_to_settle(agreed, n, target) if decided == "inconclusive" else None,
        metrics=metrics,
        latency_p50_ms=latency_ms,
        latency_p95_ms=latency_ms * 1.5,
        output_tokens=2 * n,
        cost_per_1k_calls=cost,
        llm_cost_per_1k_calls=llm_cost,
        started_at=timezone.now() - timedelta(minutes=2),
        finished_at=timezone.now(),
        message="done",
    )
    evaluation.refresh_from_db()
    return evaluation
