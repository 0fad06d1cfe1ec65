"""The retraining round, one click: a dataset of the task's calls now (the frozen test split unchanged), a
training run from the recipe in production, an evaluation on the same test split, an approval request; each a job
row, moved on by the advance task. The live deployment is untouched until someone approves."""

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User

from apps.approvals import selectors as approvals
from apps.approvals.services import Actor
from apps.common.errors import Conflict, NotFound, PermissionDenied
from apps.evaluation import execution as evaluating
from apps.evaluation.models import Evaluation
from apps.jobs import services as jobs
from apps.jobs.models import JobStatus
from apps.projects.models import Project
from apps.projects.services import api_key_create
from apps.serving.models import Deployment, RetrainProposal
from apps.serving.retraining import (
    retrain_proposal_dismiss,
    retrain_proposal_raise,
    retrain_proposal_start,
    retrain_round_advance,
)
from apps.serving.selectors import deployment_routes
from apps.serving.services import deployment_stop
from apps.serving.tasks import retrain_rounds_advance_task
from apps.specialists import datasets
from apps.specialists import execution as training
from apps.specialists.models import Split, TrainingDataset, TrainingRun
from tests.serving.retrain_helpers import TASK_CALLS, arrive, in_production, sentiment

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def thresholds(settings: Any, tmp_path: Path) -> None:
    settings.ARTIFACT_ROOT = tmp_path / "artifacts"
    settings.ARTIFACT_S3_BUCKET = ""
    settings.RETRAIN_NEW_CALLS_MIN = 10
    settings.EVALUATION_TEST_CALLS = 8


def proposed(project: Project, production: Deployment, sample_records: list[dict[str, Any]]) -> RetrainProposal:
    arrive(project, sentiment(sample_records)[TASK_CALLS : TASK_CALLS + 30], task=production.cluster)
    proposal = retrain_proposal_raise(deployment=production)
    assert proposal is not None
    return proposal


def test_one_click_retrains_from_the_same_recipe_and_requests_approval_leaving_production_alone(
    project: Project,
    owner: User,
    sample_records: list[dict[str, Any]],
    django_capture_on_commit_callbacks: Any,
) -> None:
    production = in_production(project, owner, sample_records, trained=True)
    live = production.evaluation
    source: TrainingRun = live.training_run
    proposal = proposed(project, production, sample_records)

    with django_capture_on_commit_callbacks() as sent:
        proposal = retrain_proposal_start(proposal=proposal, actor=Actor(user=owner))
    assert len(sent) == 1  # the dataset build, enqueued after commit
    assert (proposal.status, proposal.step, proposal.who, proposal.started_by) == ("running", "dataset", "owner", owner)
    assert retrain_round_advance(proposal_id=proposal.id).step == "dataset"  # its job has not run yet
    dataset = TrainingDataset.objects.get(id=proposal.dataset_id)
    assert (dataset.kind, dataset.base_model, dataset.seed) == (source.dataset.kind, None, source.dataset.seed)

    datasets.dataset_build_run(dataset_id=dataset.id)
    dataset.refresh_from_db()
    assert dataset.status == "succeeded", dataset.error
    assert dataset.test_hash == source.dataset.test_hash  # the frozen test split, unchanged
    tests = set(dataset.examples.filter(split=Split.TEST).values_list("call_id", flat=True))
    assert tests == set(source.dataset.examples.filter(split=Split.TEST).values_list("call_id", flat=True))
    assert dataset.train_count + dataset.val_count + dataset.test_count == TASK_CALLS + 30  # the new calls too

    assert retrain_rounds_advance_task() == 1
    proposal.refresh_from_db()
    run = TrainingRun.objects.get(id=proposal.training_run_id)
    assert proposal.step == "training" and run.dataset_id == dataset.id
    assert (run.kind, run.base_model_id, run.method, run.params) == (
        source.kind,
        source.base_model_id,
        source.method,
        source.params,
    )
    training.training_run_execute(run_id=run.id)
    run.refresh_from_db()
    assert run.status == "succeeded", run.error

    proposal = retrain_round_advance(proposal_id=proposal.id)
    evaluation = Evaluation.objects.get(id=proposal.evaluation_id)
    assert (proposal.step, evaluation.training_run_id, evaluation.target) == ("evaluation", run.id, live.target)
    evaluating.evaluation_run(evaluation_id=evaluation.id)
    evaluation.refresh_from_db()
    assert evaluation.status == "succeeded", evaluation.error
    assert evaluation.test_hash == live.test_hash  # scored on the same test split

    proposal = retrain_round_advance(proposal_id=proposal.id)
    assert (proposal.status, proposal.step, proposal.percent) == ("awaiting_approval", "approval", 100)
    request = proposal.approval
    assert (request.decision, request.evaluation_id, request.who) == ("request", evaluation.id, "owner")
    assert "new trainable calls" in request.comment

    # Nothing replaced the live specialist: the same deployment serves, its approval still in force.
    production.refresh_from_db()
    assert (production.status, production.evaluation_id) == ("serving", live.id)
    assert approvals.swap_approval_in_force(records=approvals.swap_records(cluster=production.cluster)) == (
        production.approval
    )
    assert deployment_routes(project_id=project.id)[production.cluster_id].id == production.id
    assert retrain_round_advance(proposal_id=proposal.id) is None  # done: nothing more to do
    assert retrain_proposal_raise(deployment=production) is None  # awaiting approval: no new proposal


@pytest.fixture
def production(project: Project, owner: User, sample_records: list[dict[str, Any]]) -> Deployment:
    return in_production(project, owner, sample_records)


def test_a_failed_step_fails_the_round_saying_why(
    production: Deployment, project: Project, owner: User, sample_records: list[dict[str, Any]]
) -> None:
    proposal = retrain_proposal_start(proposal=proposed(project, production, sample_records), actor=Actor(user=owner))
    claimed = jobs.job_claim(model=TrainingDataset, job_id=proposal.dataset_id)
    assert claimed is not None
    jobs.job_fail(job=claimed, error="The disk is full.")
    proposal = retrain_round_advance(proposal_id=proposal.id)
    assert proposal.status == "failed" and "The dataset build failed: The disk is full." in proposal.message
    assert retrain_proposal_dismiss(proposal=proposal, actor=Actor(user=owner)).status == "dismissed"


def test_only_owners_and_admins_start_or_dismiss(
    production: Deployment,
    project: Project,
    engineer: User,
    admin_user: User,
    make_user: Callable[..., User],
    sample_records: list[dict[str, Any]],
) -> None:
    proposal = proposed(project, production, sample_records)
    outsider = make_user("stranger")  # no member of this project
    with pytest.raises(PermissionDenied):
        retrain_proposal_start(proposal=proposal, actor=Actor(user=engineer))
    with pytest.raises(PermissionDenied):
        retrain_proposal_dismiss(proposal=proposal, actor=Actor(user=engineer))
    with pytest.raises(NotFound):
        retrain_proposal_start(proposal=proposal, actor=Actor(user=outsider))
    approve_only, _ = api_key_create(project=project, name="release", scopes=["approve", "read"], created_by=admin_user)
    with pytest.raises(PermissionDenied, match="'discover'"):
        retrain_proposal_start(proposal=proposal, actor=Actor(api_key=approve_only))
    assert RetrainProposal.objects.get(id=proposal.id).status == "proposed"
    assert retrain_proposal_start(proposal=proposal, actor=Actor(user=admin_user)).status == "running"
    with pytest.raises(Conflict):
        retrain_proposal_start(proposal=proposal, actor=Actor(user=admin_user))  # running already
    with pytest.raises(Conflict):
        retrain_proposal_dismiss(proposal=proposal, actor=Actor(user=admin_user))


def test_a_proposal_whose_specialist_was_stopped_does_not_start(
    production: Deployment, project: Project, owner: User, sample_records: list[dict[str, Any]]
) -> None:
    proposal = proposed(project, production, sample_records)
    deployment_stop(deployment=production, actor=Actor(user=owner))
    with pytest.raises(Conflict, match="no longer deployed"):
        retrain_proposal_start(proposal=proposal, actor=Actor(user=owner))
    assert not TrainingDataset.objects.exclude(id=production.evaluation.training_run.dataset_id).exists()
    assert JobStatus.QUEUED not in TrainingDataset.objects.values_list("status", flat=True)
