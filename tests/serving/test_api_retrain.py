"""GET /api/v1/retrain-proposals, POST .../{id}/start and .../{id}/dismiss; GET /api/v1/events lists proposals."""

from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from apps.projects.models import Project
from apps.projects.services import api_key_create
from apps.serving.models import Deployment, RetrainProposal
from apps.serving.retraining import retrain_proposal_raise
from tests.serving.retrain_helpers import TASK_CALLS, arrive, in_production, sentiment

pytestmark = pytest.mark.django_db
URL = "/api/v1/retrain-proposals"


@pytest.fixture(autouse=True)
def thresholds(settings: Any, tmp_path: Path) -> None:
    settings.ARTIFACT_ROOT = tmp_path / "artifacts"
    settings.ARTIFACT_S3_BUCKET = ""
    settings.RETRAIN_NEW_CALLS_MIN = 10


@pytest.fixture
def proposal(project: Project, owner: User, sample_records: list[dict[str, Any]]) -> RetrainProposal:
    production: Deployment = in_production(project, owner, sample_records)
    arrive(project, sentiment(sample_records)[TASK_CALLS : TASK_CALLS + 24], task=production.cluster)
    raised = retrain_proposal_raise(deployment=production)
    assert raised is not None
    return raised


def keyed(client: Client, project: Project, owner: User, *scopes: str) -> Client:
    _, secret = api_key_create(project=project, name="-".join(scopes), scopes=list(scopes), created_by=owner)
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {secret}"
    return client


def test_proposals_are_listed_with_their_reasons_and_figures(
    client: Client, project: Project, owner: User, proposal: RetrainProposal
) -> None:
    reader = keyed(client, project, owner, "read")
    body = reader.get(URL).json()
    (item,) = body["items"]
    assert (item["id"], item["task"], item["status"], item["step"]) == (
        str(proposal.id),
        str(proposal.cluster_id),
        "proposed",
        "",
    )
    assert item["reasons"][0]["code"] == "new_calls" and item["figures"]["new_calls"] == 24
    assert reader.get(URL, {"status": "running"}).json()["items"] == []
    assert reader.get(URL, {"status": "sideways"}).status_code == 422
    assert reader.get(f"{URL}/{proposal.id}").json()["id"] == str(proposal.id)
    events = reader.get("/api/v1/events", {"kind": "retrain_proposed"}).json()["items"]
    assert [e["figures"]["proposal"] for e in events] == [str(proposal.id)]
    assert reader.post(f"{URL}/{proposal.id}/start").status_code == 403  # read only


def test_start_answers_202_with_the_round_and_dismiss_ends_it(
    client: Client, project: Project, owner: User, proposal: RetrainProposal
) -> None:
    approver = keyed(client, project, owner, "approve", "discover", "read")
    assert approver.get(f"{URL}/{proposal.id}/start").status_code == 405
    answer = approver.post(f"{URL}/{proposal.id}/start")
    assert answer.status_code == 202, answer.content
    body = answer.json()
    assert (body["status"], body["step"], body["who"]) == ("running", "dataset", "API key approve-discover-read")
    assert body["dataset"] and body["training_run"] is None and body["percent"] == 0
    assert approver.post(f"{URL}/{proposal.id}/start").status_code == 409
    assert approver.post(f"{URL}/{proposal.id}/dismiss").status_code == 409  # a running round is not dismissed


def test_dismiss_and_the_errors(
    client: Client, project: Project, other_project: Project, owner: User, outsider: User, proposal: RetrainProposal
) -> None:
    assert client.get(URL).status_code == 401
    approve_only = keyed(client, project, owner, "approve", "read")
    assert approve_only.post(f"{URL}/{proposal.id}/start").status_code == 403  # needs 'discover' too
    answer = approve_only.post(f"{URL}/{proposal.id}/dismiss")
    assert answer.status_code == 200 and answer.json()["status"] == "dismissed"
    full = keyed(client, project, owner, "approve", "discover")
    assert full.post(f"{URL}/{proposal.id}/start").status_code == 409  # dismissed: it does not start
    assert full.get(f"{URL}/{proposal.id}").status_code == 403  # no 'read' scope
    assert full.get(f"{URL}/not-a-uuid").status_code == 422
    _, secret = api_key_create(
        project=other_project, name="other", scopes=["approve", "discover", "read"], created_by=outsider
    )
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {secret}"
    assert client.get(f"{URL}/{proposal.id}").status_code == 404
    assert client.post(f"{URL}/{proposal.id}/start").status_code == 404
