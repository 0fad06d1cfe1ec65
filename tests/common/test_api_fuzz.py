"""Schemathesis over the API's own OpenAPI schema, in-process through the WSGI application: for every operation a
fixed-seed batch of valid and invalid requests, sent with a key holding every scope, gets no 5xx, only the
statuses the operation documents, and bodies that fit the documented schemas. bench/fuzz_api.py runs it longer."""

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections, transaction
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from apps.projects.models import ApiKeyScope, Project
from apps.projects.services import api_key_create
from controlplane.api import api

SEED = 20261130
# 41 operations x 40 requests: about two minutes on two busy cores.
MAX_EXAMPLES = 40
CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance]

SCHEMA = schemathesis.openapi.from_dict(api.get_openapi_schema())
SCHEMA.app = get_wsgi_application()
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]


@pytest.fixture
def in_process() -> Iterator[None]:
    """Requests share the test's connection and transaction, as with Django's test client: the WSGI handler must
    not close the connection at each request's end."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def test_every_operation_is_fuzzed() -> None:
    assert len(OPERATIONS) >= 40
    assert {"POST /api/v1/calls", "PATCH /api/v1/deployments/{deployment_id}"} <= {op.label for op in OPERATIONS}


@pytest.mark.parametrize("operation", OPERATIONS, ids=[op.label for op in OPERATIONS])
def test_operation_answers_documented_statuses_and_shapes_and_no_server_error(
    operation: Any, project: Project, in_process: None
) -> None:
    _, secret = api_key_create(project=project, name="fuzz", scopes=list(ApiKeyScope.values), operator=True)
    headers = {"Authorization": f"Bearer {secret}"}
    sent = []
    cases = st.one_of(operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE))

    @seed(SEED)
    @settings(
        max_examples=MAX_EXAMPLES,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=cases)
    def run(case: Any) -> None:
        savepoint = transaction.savepoint()  # each request starts from the same database
        try:
            case.call_and_validate(headers=headers, checks=CHECKS)
        finally:
            transaction.savepoint_rollback(savepoint)
        sent.append(case)

    run()
    assert sent
