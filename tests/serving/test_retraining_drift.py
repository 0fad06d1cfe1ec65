"""The drift check: a specialist in production whose task got many new trainable calls, whose recent calls fit it
less well than its training calls did, or whose project's calls fit no task, gets a retraining proposal with the
reason and the figures (and an event); below the thresholds, none."""

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.contrib.auth.models import User

from apps.approvals.services import Actor
from apps.calls.models import Call
from apps.projects.models import Project
from apps.serving.drift import drift_figures
from apps.serving.models import Deployment, EventKind, RetrainProposal, ServingEvent
from apps.serving.retraining import retrain_proposal_raise
from apps.serving.services import deployment_stop
from apps.serving.tasks import retrain_proposals_check_task
from tests.serving.retrain_helpers import TASK_CALLS, arrive, in_production, off_task, sentiment

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def thresholds(settings: Any, tmp_path: Path) -> None:
    """Small thresholds for a small task: 10 new calls and half the dataset; 20% of at least 10 recent calls."""
    settings.ARTIFACT_ROOT = tmp_path / "artifacts"
    settings.ARTIFACT_S3_BUCKET = ""
    settings.RETRAIN_NEW_CALLS_MIN = 10
    settings.RETRAIN_NEW_CALLS_SHARE = 0.5
    settings.RETRAIN_MIN_RECENT_CALLS = 10
    settings.RETRAIN_LOW_FIT_SHARE = 0.2
    settings.RETRAIN_UNASSIGNED_SHARE = 0.2


@pytest.fixture
def production(project: Project, owner: User, sample_records: list[dict[str, Any]]) -> Deployment:
    return in_production(project, owner, sample_records)


def later(sample_records: list[dict[str, Any]], n: int, start: int = TASK_CALLS) -> list[dict[str, Any]]:
    return sentiment(sample_records)[start : start + n]


def test_many_new_trainable_calls_raise_a_proposal_with_the_reason_and_an_event(
    production: Deployment, project: Project, sample_records: list[dict[str, Any]]
) -> None:
    arrive(project, later(sample_records, 24), task=production.cluster, confidence=0.9)
    proposal = retrain_proposal_raise(deployment=production)
    assert proposal is not None and proposal.status == "proposed"
    assert [r["code"] for r in proposal.reasons] == ["new_calls"]
    assert "24 new trainable calls since its dataset of 40 calls" in proposal.reasons[0]["message"]
    figures = proposal.figures
    assert (figures["new_calls"], figures["dataset_calls"]) == (24, 40)
    assert (figures["recent_calls"], figures["low_fit_calls"]) == (24, 0)  # they fit as well as the training calls
    assert proposal.source_run_id == production.evaluation.training_run_id
    event = ServingEvent.objects.get(kind=EventKind.RETRAIN_PROPOSED)
    assert event.deployment_id == production.id and event.figures["proposal"] == str(proposal.id)
    assert event.who == "drift check" and "24 new trainable calls" in event.message

    # Checked again: the same proposal, with fresh figures; no second one, no second event.
    arrive(project, later(sample_records, 2, start=TASK_CALLS + 24), task=production.cluster)
    assert retrain_proposal_raise(deployment=production) is None
    proposal.refresh_from_db()
    assert proposal.figures["new_calls"] == 26
    assert RetrainProposal.objects.count() == 1 and ServingEvent.objects.count() == 1


def test_calls_from_a_changed_distribution_raise_a_low_fit_proposal(
    production: Deployment, project: Project, sample_records: list[dict[str, Any]]
) -> None:
    arrive(project, later(sample_records, 8), task=production.cluster, confidence=0.9)
    arrive(project, later(sample_records, 4, start=TASK_CALLS + 8), task=production.cluster, confidence=0.05)
    proposal = retrain_proposal_raise(deployment=production)
    assert proposal is not None
    assert [r["code"] for r in proposal.reasons] == ["low_fit"]  # 12 new calls: fewer than half of 40
    figures = proposal.figures
    # The training calls' confidences (0.50 to 0.89, those of the train split): their 10th percentile.
    train = production.evaluation.training_run.dataset.examples.filter(split="train").values("call_id")
    confidences = list(Call.objects.filter(id__in=train).values_list("cluster_confidence", flat=True))
    assert len(confidences) >= 20 and figures["fit_floor"] == pytest.approx(np.percentile(confidences, 10), abs=1e-4)
    assert (figures["recent_calls"], figures["low_fit_calls"]) == (12, 4)
    assert "33% of the task's 12 calls of the last 7 days fit it less well than 90%" in proposal.reasons[0]["message"]


def test_calls_that_fit_no_task_raise_a_proposal(production: Deployment, project: Project) -> None:
    arrive(project, off_task(12), task=None)
    proposal = retrain_proposal_raise(deployment=production)
    assert proposal is not None and [r["code"] for r in proposal.reasons] == ["unassigned"]
    assert (proposal.figures["unassigned_calls"], proposal.figures["project_recent_calls"]) == (12, 12)
    assert "fit no task: run discovery again" in proposal.reasons[0]["message"]


def test_below_the_thresholds_nothing_is_proposed(
    production: Deployment, project: Project, sample_records: list[dict[str, Any]], settings: Any
) -> None:
    arrive(project, later(sample_records, 9), task=production.cluster, confidence=0.9)  # under 10 new calls
    arrive(project, later(sample_records, 1, start=TASK_CALLS + 9), task=production.cluster, confidence=0.05)
    arrive(project, off_task(1), task=None)  # 1 of 11 recent project calls fits no task: under 20%
    figures = drift_figures(deployment=production)
    assert (figures.new_calls, figures.recent_calls, figures.low_fit_calls, figures.unassigned_calls) == (10, 10, 1, 1)
    settings.RETRAIN_NEW_CALLS_MIN = 11
    assert retrain_proposal_raise(deployment=production) is None
    settings.RETRAIN_NEW_CALLS_MIN, settings.RETRAIN_NEW_CALLS_SHARE = 10, 0.3  # 10 >= 10 but < 30% of 40
    assert retrain_proposal_raise(deployment=production) is None
    assert not RetrainProposal.objects.exists() and not ServingEvent.objects.exists()


def test_the_default_thresholds_want_a_hundred_new_calls(
    production: Deployment, project: Project, sample_records: list[dict[str, Any]], settings: Any
) -> None:
    settings.RETRAIN_NEW_CALLS_MIN, settings.RETRAIN_MIN_RECENT_CALLS = 100, 50
    arrive(project, later(sample_records, 60), task=production.cluster, confidence=0.05)  # all low fit, 60 calls
    proposal = retrain_proposal_raise(deployment=production)
    assert proposal is not None and [r["code"] for r in proposal.reasons] == ["low_fit"]  # 60 new: under 100


def test_the_beat_task_checks_every_specialist_in_production_once(
    production: Deployment, project: Project, owner: User, sample_records: list[dict[str, Any]]
) -> None:
    arrive(project, later(sample_records, 24), task=production.cluster)
    assert retrain_proposals_check_task() == 1
    assert retrain_proposals_check_task() == 0  # proposed already
    RetrainProposal.objects.update(status="dismissed", finished_at=production.created_at)
    assert retrain_proposals_check_task() == 0  # dismissed: quiet for RETRAIN_QUIET_DAYS
    deployment_stop(deployment=production, actor=Actor(user=owner))
    RetrainProposal.objects.all().delete()
    assert retrain_proposals_check_task() == 0  # nothing in production


def test_an_endpoint_in_production_is_never_proposed_for_retraining(
    production: Deployment, project: Project, sample_records: list[dict[str, Any]]
) -> None:
    arrive(project, later(sample_records, 24), task=production.cluster)
    evaluation = production.evaluation
    evaluation.training_run = None
    assert retrain_proposal_raise(deployment=production) is None
