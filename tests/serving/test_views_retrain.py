"""The retraining panel of the deployment page: the proposal's reasons and figures, one click to retrain for owners
and admins (with and without htmx), the round's steps with links while it runs (polling), read-only for others."""

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from apps.projects.models import Project
from apps.serving.models import Deployment, RetrainProposal
from apps.serving.retraining import retrain_proposal_raise
from tests.serving.retrain_helpers import TASK_CALLS, arrive, in_production, sentiment

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture(autouse=True)
def thresholds(settings: Any, tmp_path: Path) -> None:
    settings.ARTIFACT_ROOT = tmp_path / "artifacts"
    settings.ARTIFACT_S3_BUCKET = ""
    settings.RETRAIN_NEW_CALLS_MIN = 10


@pytest.fixture
def production(project: Project, owner: User, sample_records: list[dict[str, Any]]) -> Deployment:
    return in_production(project, owner, sample_records)


@pytest.fixture
def proposal(project: Project, production: Deployment, sample_records: list[dict[str, Any]]) -> RetrainProposal:
    arrive(project, sentiment(sample_records)[TASK_CALLS : TASK_CALLS + 24], task=production.cluster)
    raised = retrain_proposal_raise(deployment=production)
    assert raised is not None
    return raised


def page(deployment: Deployment, tail: str = "") -> str:
    return f"/p/{deployment.project.slug}/tasks/{deployment.cluster_id}/deployment/{tail}"


def test_without_a_proposal_the_panel_says_none_is_proposed(
    login: Callable[[User], Client], owner: User, production: Deployment
) -> None:
    body = login(owner).get(page(production)).content.decode()
    assert 'id="retrain-panel"' in body and "No retraining proposed" in body


def test_owner_sees_the_reasons_and_starts_the_round_in_one_click(
    login: Callable[[User], Client], owner: User, production: Deployment, proposal: RetrainProposal
) -> None:
    client = login(owner)
    body = client.get(page(production)).content.decode()
    assert "24 new trainable calls since its dataset of 40 calls" in body
    assert ">Retrain</button>" in body and "every 2s" not in body

    started = client.post(page(production, f"retrain/{proposal.id}/start/"), **HTMX)
    assert started.status_code == 200
    fragment = started.content.decode()
    assert fragment.lstrip().startswith('<section id="retrain-panel"')
    assert "Retraining started" in fragment and 'hx-trigger="every 2s"' in fragment  # polls while it runs
    proposal.refresh_from_db()
    assert proposal.status == "running" and proposal.started_by == owner
    assert f"/specialists/datasets/{proposal.dataset_id}/" in fragment
    assert ">Retrain</button>" not in fragment

    polled = client.get(page(production, "retrain/"), **HTMX)
    assert polled.content.decode().lstrip().startswith('<section id="retrain-panel"')
    whole = client.get(page(production, "retrain/"))
    assert 'id="deployment-panel"' in whole.content.decode()  # without htmx, the whole page

    again = client.post(page(production, f"retrain/{proposal.id}/start/"))
    assert again.status_code == 409 and "is running: it cannot start" in again.content.decode()
    assert client.get(page(production, f"retrain/{proposal.id}/start/")).status_code == 405


def test_without_htmx_start_and_dismiss_redirect_to_the_page(
    login: Callable[[User], Client], admin_user: User, production: Deployment, proposal: RetrainProposal
) -> None:
    dismissed = login(admin_user).post(page(production, f"retrain/{proposal.id}/dismiss/"))
    assert dismissed.status_code == 302 and dismissed["Location"] == page(production)
    proposal.refresh_from_db()
    assert proposal.status == "dismissed" and proposal.who == admin_user.username


def test_other_roles_see_it_read_only_and_cannot_start(
    login: Callable[[User], Client],
    engineer: User,
    outsider: User,
    production: Deployment,
    proposal: RetrainProposal,
) -> None:
    client = login(engineer)
    body = client.get(page(production)).content.decode()
    assert "24 new trainable calls" in body and ">Retrain</button>" not in body
    assert "Only owners and admins of the project start a retraining" in body
    assert client.post(page(production, f"retrain/{proposal.id}/start/")).status_code == 403
    assert login(outsider).post(page(production, f"retrain/{proposal.id}/start/")).status_code == 404
    proposal.refresh_from_db()
    assert proposal.status == "proposed"
