"""The world the authorisation matrix asks about: two projects ("own" and "other"), each with one object of
every kind a route or operation names, the people of every role, and API keys of every scope. Built once per
module through the factories the other tests use; no job runs and no model is asked anything."""

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from apps.approvals.services import Actor, swap_approval_decide
from apps.calls.models import Call, ImportJob
from apps.curation.models import CurationPolicy, RescanJob
from apps.discovery.models import DiscoveryRun
from apps.evaluation.services import endpoint_create
from apps.fleet.models import GpuWorker
from apps.jobs.models import JobStatus
from apps.projects.models import ApiKeyScope, Project, Role
from apps.projects.services import api_key_create, api_key_revoke, membership_set, project_create
from apps.serving.models import RetrainProposal
from apps.serving.services import deployment_create
from apps.specialists.models import SpecialistKind, TrainingDataset, TrainingRun
from tests.approvals.factories import endpoint, evaluated, label_task

PEOPLE = ("viewer", "engineer", "owner", "admin", "outsider", "staff")
MEMBER_ROLES = {"viewer": Role.VIEWER, "engineer": Role.ENGINEER, "owner": Role.OWNER, "admin": Role.ADMIN}
# One key per scope, plus the keys that must be refused: revoked, and an admin-scoped key made by a project
# admin who is not staff (GPU workers belong to the installation).
KEY_ROLES = (*ApiKeyScope.values, "all", "admin-by-member", "revoked")


@dataclass
class Side:
    """One project and its objects, by the name the URL conf and the API give their ids."""

    project: Project
    objects: dict[str, str]
    upstream_model: str
    keys: dict[str, str] = field(default_factory=dict)

    def markers(self) -> list[str]:
        """Strings that only this project's pages and answers may show."""
        return [*self.objects.values(), f"/p/{self.project.slug}/", self.upstream_model]


@dataclass
class World:
    own: Side
    other: Side
    sessions: dict[str, str]  # person -> session key
    worker: str

    def side(self, target: str) -> Side:
        return self.other if target == "other" else self.own

    def client(self, person: str) -> Client:
        """A fresh client from a non-loopback address (as a browser), logged in as `person` unless anonymous."""
        client = Client(REMOTE_ADDR="203.0.113.7")
        if person in self.sessions:
            client.cookies[settings.SESSION_COOKIE_NAME] = self.sessions[person]
        return client


def _user(username: str, **extra: Any) -> User:
    return User.objects.create_user(username=username, password="pw-for-tests", **extra)


def _session(user: User) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def _side(slug: str, folder: Path, staff: User) -> tuple[Side, dict[str, User]]:
    project = project_create(slug=slug)
    people = {role: _user(f"{slug}-{role}") for role in MEMBER_ROLES}
    for person, role in MEMBER_ROLES.items():
        membership_set(project=project, user=people[person], role=role)
    bystander = _user(f"{slug}-bystander")
    membership_set(project=project, user=bystander, role=Role.VIEWER)

    # The pattern engine alone: the spaCy model is not what this module is about (and takes seconds to load).
    CurationPolicy.objects.update_or_create(project=project, defaults={"ner_model_path": ""})
    task = label_task(project, calls=12)
    Call.objects.filter(task_cluster=task).update(
        metadata={"marker": f"{slug.upper()}-ONLY"}  # shown on the call page: another project's must never be
    )
    call = Call.objects.filter(task_cluster=task).order_by("client_id").first()
    assert call is not None
    evaluation = evaluated(task, endpoint(project), wrong=0, target=0.5)
    approval = swap_approval_decide(
        evaluation=evaluation, actor=Actor(user=people["owner"]), decision="approve", comment="Good enough."
    )
    deployment = deployment_create(approval=approval, actor=Actor(user=people["owner"]), mode="shadow")
    upstream_model = f"{slug}-upstream-model"
    endpoint_create(
        project=project,
        name="upstream",
        base_url="http://127.0.0.1:9/v1",
        model=upstream_model,
        upstream=True,
        models=[upstream_model],
    )

    dataset = TrainingDataset.objects.create(
        project=project, cluster=task, kind=SpecialistKind.CLASSIFIER, status=JobStatus.SUCCEEDED, progress=1.0
    )
    files = folder / str(dataset.id)
    files.mkdir(parents=True)
    for split in ("train", "val", "test"):
        (files / f"{split}.jsonl").write_text(json.dumps({"text": "great", "label": "positive"}) + "\n")
    TrainingDataset.objects.filter(id=dataset.id).update(path=str(files))
    run = TrainingRun.objects.create(
        project=project,
        cluster=task,
        dataset=dataset,
        kind=SpecialistKind.CLASSIFIER,
        queue="cpu",
        status=JobStatus.SUCCEEDED,
        artifact_path="/nowhere",
    )
    proposal = RetrainProposal.objects.create(
        project=project,
        cluster=task,
        deployment=deployment,
        source_run=run,
        reasons=[{"code": "drift", "message": "Calls drifted."}],
    )
    imported = ImportJob.objects.create(project=project, filename="calls.jsonl", path="/nowhere")
    rescan = RescanJob.objects.create(project=project, policy_version=1, status=JobStatus.SUCCEEDED)
    discovery_run = DiscoveryRun.objects.create(project=project, status=JobStatus.SUCCEEDED, finished_at=timezone.now())
    key, _ = api_key_create(project=project, name="to-revoke")

    side = Side(
        project=project,
        upstream_model=upstream_model,
        objects={
            "call": str(call.id),
            "import_job": str(imported.id),
            "rescan": str(rescan.id),
            "discovery_run": str(discovery_run.id),
            "cluster": str(task.id),
            "dataset": str(dataset.id),
            "training_run": str(run.id),
            "evaluation": str(evaluation.id),
            "approval": str(approval.id),
            "deployment": str(deployment.id),
            "proposal": str(proposal.id),
            "key": str(key.id),
            "endpoint": str(evaluation.endpoint_id),
        },
    )
    side.objects["member"] = bystander.username
    for scope in ApiKeyScope.values:
        creator = staff if scope == ApiKeyScope.ADMIN else None
        _, side.keys[scope] = api_key_create(
            project=project, name=scope, scopes=[scope], created_by=creator, operator=True
        )
    _, side.keys["admin-by-member"] = api_key_create(
        project=project, name="admin-by-member", scopes=[ApiKeyScope.ADMIN], created_by=people["admin"]
    )
    revoked, side.keys["revoked"] = api_key_create(
        project=project, name="revoked", scopes=list(ApiKeyScope.values), operator=True
    )
    api_key_revoke(key=revoked)
    side.keys["all"] = api_key_create(project=project, name="all", scopes=list(ApiKeyScope.values), operator=True)[1]
    return side, people


def build_world(folder: Path) -> World:
    staff = _user("staff", is_staff=True)
    own, people = _side("acme", folder / "acme", staff)
    other, _ = _side("globex", folder / "globex", staff)
    third = project_create(slug="initech")
    outsider = _user("outsider")
    membership_set(project=third, user=outsider, role=Role.ADMIN)
    worker = GpuWorker.objects.create(
        name="celery@gpu-1",
        host="gpu-1",
        queues=["gpu"],
        gpus=[],
        concurrency=1,
        started_at=timezone.now(),
        heartbeat_at=timezone.now(),
    )
    sessions = {person: _session(user) for person, user in people.items()}
    sessions |= {"outsider": _session(outsider), "staff": _session(staff)}
    return World(own=own, other=other, sessions=sessions, worker=worker.name)
