"""Schemathesis over the API's own OpenAPI schema, in-process through the WSGI application: for every operation a
fixed-seed batch of valid and invalid requests (and, for an operation on an object, requests naming a real one),
sent with a key holding every scope, gets no 5xx, only the statuses the operation documents, and bodies that fit
the documented schemas. bench/fuzz_api.py runs the same for longer."""

from typing import Any

import pytest
from django.db import transaction
from hypothesis import given

from apps.projects.models import Project
from tests.api_fuzz import CHECKS, fuzz_project, fuzzing, in_process, load_schema, requests

SEED = 20261130
# 41 operations x 50 requests: 45 s on two quiet cores, 2 min 20 s on two busy ones (load 4).
MAX_EXAMPLES = 50

SCHEMA = load_schema()
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]


def test_every_operation_is_fuzzed() -> None:
    assert len(OPERATIONS) >= 40
    assert {"POST /api/v1/calls", "PATCH /api/v1/deployments/{deployment_id}"} <= {op.label for op in OPERATIONS}


@pytest.mark.parametrize("operation", OPERATIONS, ids=[op.label for op in OPERATIONS])
def test_operation_answers_documented_statuses_and_shapes_and_no_server_error(operation: Any, project: Project) -> None:
    headers, ids = fuzz_project(project)
    sent = []

    @fuzzing(SEED, MAX_EXAMPLES)
    @given(case=requests(operation, ids))
    def run(case: Any) -> None:
        savepoint = transaction.savepoint()  # each request starts from the same database
        try:
            case.call_and_validate(headers=headers, checks=CHECKS)
        finally:
            transaction.savepoint_rollback(savepoint)
        sent.append(case)

    with in_process():
        run()
    assert sent
