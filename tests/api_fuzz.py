"""What the API fuzz (tests/common/test_api_fuzz.py, bench/fuzz_api.py) shares: the schema with the app bound, a
project whose objects the requests can name, and each operation's requests."""

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import schemathesis
from django.contrib.auth.models import User
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, seed, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from apps.approvals.services import Actor, swap_approval_decide
from apps.discovery.models import DiscoveryRun
from apps.projects.models import ApiKeyScope, Project, Role
from apps.projects.services import api_key_create, membership_set
from apps.serving.services import deployment_create
from controlplane.api import api
from tests.approvals.factories import endpoint, evaluated, label_task

CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance]


def fuzzing(seed_value: int, examples: int) -> Callable[[Any], Any]:
    """Hypothesis's settings for a fuzz run, above `@given`: a fixed seed, no example database (the same
    requests each run), no deadline (a request's time is not what is tested), every health check off."""

    def wrap(test: Any) -> Any:
        configured = settings(
            max_examples=examples,
            database=None,
            deadline=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )(test)
        return seed(seed_value)(configured)

    return wrap


def load_schema() -> Any:
    schema = schemathesis.openapi.from_dict(api.get_openapi_schema())
    schema.app = get_wsgi_application()
    return schema


@contextmanager
def in_process() -> Iterator[None]:
    """Requests share the caller's connection and transaction, as under Django's test client: the WSGI handler
    must not close the connection at each request's end."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def fuzz_project(project: Project) -> tuple[dict[str, str], dict[str, str]]:
    """A key with every scope (its Authorization header), and the ids of real objects by path parameter: a label
    task with its calls, an evaluated endpoint, its approval and a live deployment, a finished discovery run."""
    _, secret = api_key_create(project=project, name="fuzz", scopes=list(ApiKeyScope.values), operator=True)
    owner = User.objects.create_user(username=f"fuzz-owner-{project.slug}")
    membership_set(project=project, user=owner, role=Role.OWNER)
    task = label_task(project, calls=12)
    evaluation = evaluated(task, endpoint(project), wrong=0, target=0.5)
    approval = swap_approval_decide(evaluation=evaluation, actor=Actor(user=owner), decision="approve", comment="ok")
    deployment = deployment_create(approval=approval, actor=Actor(user=owner), mode="live", canary_percent=50)
    run = DiscoveryRun.objects.create(project=project, status="succeeded")
    ids = {
        "call_id": str(task.calls.order_by("id").values_list("id", flat=True).first()),
        "cluster_id": str(task.id),
        "evaluation_id": str(evaluation.id),
        "deployment_id": str(deployment.id),
        "run_id": str(run.id),
    }
    return {"Authorization": f"Bearer {secret}"}, ids


def requests(operation: Any, ids: dict[str, str]) -> Any:
    """Valid and invalid requests; for an operation on an object, as many again naming the real one."""
    strategies = [operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE)]
    names = re.findall(r"{(\w+)}", operation.path)
    if names and all(name in ids for name in names):
        real = {name: ids[name] for name in names}
        strategies += [operation.as_strategy(mode, path_parameters=real) for mode in GenerationMode]
    return st.one_of(strategies)
