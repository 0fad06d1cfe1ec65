"""A live deployment of an approved candidate (serving cost 0.1 USD per 1000 calls) and gateway calls
stored through the real ingest service, as the gateway's log drain stores them: three answered by the
specialist, one escalated, two shadowed (one agreeing), three sent to the LLM (one failed), a call logged
without the gateway, one in no known task, and two specialist calls made 3 and 10 days ago."""

from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db.models import Avg, Sum
from django.utils import timezone

from apps.approvals.services import Actor, swap_approval_decide
from apps.calls.ingest import Batch
from apps.calls.models import Call, ModelPrice
from apps.calls.services import calls_ingest
from apps.discovery.models import TaskCluster
from apps.evaluation.models import Evaluation
from apps.projects.models import Project
from apps.serving.models import Deployment
from apps.serving.services import deployment_create, deployment_health_record
from tests.approvals.factories import endpoint, evaluated, label_task
from tests.conftest import make_call

NOW = timezone.now()


def store(project: Project, at: datetime, metadata: dict[str, Any] | None = None, **fields: Any) -> None:
    record = make_call(timestamp=at.isoformat(), metadata=metadata or {}, **fields)
    result = calls_ingest(project=project, batch=Batch(records=[(0, record)]))
    assert result.accepted == 1, result.rejected


@pytest.fixture
def task(project: Project) -> TaskCluster:
    return label_task(project)


@pytest.fixture
def ready(task: TaskCluster, project: Project) -> Evaluation:
    return evaluated(task, endpoint(project), wrong=2)


@pytest.fixture
def deployment(ready: Evaluation, owner: User) -> Deployment:
    approval = swap_approval_decide(
        evaluation=ready, actor=Actor(user=owner), decision="approve", comment="Good.", rollout=None
    )
    deployed = deployment_create(approval=approval, actor=Actor(user=owner), mode="live", canary_percent=100)
    return deployment_health_record(deployment=deployed, healthy=True)


@pytest.fixture
def traffic(project: Project, task: TaskCluster, deployment: Deployment) -> Callable[..., None]:
    """Store the gateway calls described above; returns nothing, the tests read them back from the database."""
    on_task = {"downshift_task": str(task.id), "downshift_deployment": str(deployment.id)}

    def specialist(at: datetime, prompt: int) -> None:
        store(
            project,
            at,
            {"downshift_route": "specialist", **on_task},
            usage={"prompt_tokens": prompt, "completion_tokens": 3},
            latency_ms=40,
        )

    def make() -> None:
        for prompt in (800, 900, 1000):
            specialist(NOW - timedelta(hours=1), prompt)
        specialist(NOW - timedelta(days=3), 700)
        specialist(NOW - timedelta(days=10), 600)
        store(
            project,
            NOW - timedelta(hours=2),
            {"downshift_route": "escalated", "downshift_escalation": "The answer is not one of the task's labels"}
            | on_task,
            latency_ms=500,
        )
        for agree in (True, False):
            shadow = {"agree": agree, "reason": "match" if agree else "Different label"}
            store(
                project, NOW - timedelta(hours=3), {"downshift_route": "shadow", "downshift_shadow": shadow} | on_task
            )
        store(project, NOW - timedelta(hours=4), {"downshift_route": "llm", "downshift_task": "none"}, latency_ms=300)
        store(project, NOW - timedelta(hours=4), {"downshift_route": "llm", "downshift_task": "not-an-id"})
        store(
            project,
            NOW - timedelta(hours=5),
            {"downshift_route": "llm", "downshift_task": "none"},
            status="error",
            error="upstream answered HTTP 500",
            response=None,
            usage=None,
        )
        store(project, NOW - timedelta(hours=1))  # logged by the SDK, not through the gateway

    return make


def gateway_calls(project: Project, since: datetime, until: datetime) -> Any:
    return Call.objects.filter(
        project=project, metadata__has_key="downshift_route", timestamp__gte=since, timestamp__lt=until
    )


SERVING_PER_CALL = Decimal("0.100000") / 1000  # the evaluation's cost per 1000 calls (tests.approvals.factories)


def expected(project: Project, task: TaskCluster, since: datetime, until: datetime) -> dict[str, Any]:
    """The period's figures summed independently with the ORM: the LLM's calls at their logged cost; the
    specialist's at SERVING_PER_CALL, and on the LLM at gpt-4o's price for their prompt tokens and the task's
    mean completion tokens of its calls the LLM answered."""
    calls = gateway_calls(project, since, until)
    served = calls.filter(metadata__downshift_route="specialist")
    llm_cost = calls.exclude(metadata__contains={"downshift_route": "specialist"}).aggregate(s=Sum("cost"))[
        "s"
    ] or Decimal(0)
    price = ModelPrice.objects.get(model="gpt-4o")
    mean_out = (
        Call.objects.filter(task_cluster=task)
        .exclude(metadata__contains={"downshift_route": "specialist"})
        .aggregate(m=Avg("completion_tokens"))["m"]
    )
    n = served.count()
    prompt = served.aggregate(s=Sum("prompt_tokens"))["s"] or 0
    llm_price = (Decimal(prompt) * price.input_per_mtok + Decimal(n * mean_out) * price.output_per_mtok) / 10**6
    serving = SERVING_PER_CALL * n
    return {
        "calls": calls.count(),
        "specialist_calls": n,
        "escalated_calls": calls.filter(metadata__downshift_route="escalated").count(),
        "shadow_calls": calls.filter(metadata__downshift_route="shadow").count(),
        "llm_calls": calls.filter(metadata__downshift_route="llm").count(),
        "cost": llm_cost + serving,
        "cost_all_llm": llm_cost + llm_price,
        "saved": llm_price - serving,
    }
