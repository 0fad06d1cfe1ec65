"""Deployments: an approved candidate put behind its task, in shadow or live with a canary share.

The gateway reads a project's deployments (selectors.deployment_routes) and is told of every change on the
Redis channel downshift:routes:<project id> (services.deployments_changed)."""

import uuid
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q


class BackendKind(models.TextChoices):
    ENDPOINT = "endpoint", "Model endpoint, as it is"
    CLASSIFIER = "classifier", "Classifier (CPU)"
    LOCAL_LORA = "local_lora", "transformers + peft (CPU)"
    VLLM_LORA = "vllm_lora", "vLLM with LoRA adapters (GPU)"


class DeploymentMode(models.TextChoices):
    SHADOW = "shadow", "Shadow: the specialist answers in the background, the LLM's answer is returned"
    LIVE = "live", "Live: the specialist's answer is returned"


class DeploymentStatus(models.TextChoices):
    STARTING = "starting", "Starting"
    SERVING = "serving", "Serving"
    STOPPED = "stopped", "Stopped"
    FAILED = "failed", "Failed"


class Deployment(models.Model):
    """One approved candidate behind one task. `canary_percent` is the share of the task's calls it takes:
    live, its answer is returned for them; in shadow, it answers them in the background and agreement is
    recorded. A deployment that is not serving and healthy sends the task's calls to the LLM, and says why
    in `health_message`. A task has at most one deployment that is not stopped."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="deployments")
    cluster = models.ForeignKey("discovery.TaskCluster", on_delete=models.CASCADE, related_name="deployments")
    approval = models.ForeignKey("approvals.SwapApproval", on_delete=models.PROTECT, related_name="deployments")
    evaluation = models.ForeignKey("evaluation.Evaluation", on_delete=models.PROTECT, related_name="deployments")
    backend = models.CharField(max_length=16, choices=BackendKind.choices)
    mode = models.CharField(max_length=8, choices=DeploymentMode.choices)
    canary_percent = models.PositiveSmallIntegerField()
    status = models.CharField(max_length=16, choices=DeploymentStatus.choices, default=DeploymentStatus.STARTING)
    healthy = models.BooleanField(default=False, help_text="The backend answered its last health check.")
    last_checked_at = models.DateTimeField(null=True, blank=True)
    health_message = models.CharField(max_length=500, blank=True, default="Not checked yet.")
    who = models.CharField(max_length=200, help_text="The person's username, or 'API key <name>'.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    stopped_at = models.DateTimeField(null=True, blank=True)
    production_sample_percent = models.PositiveSmallIntegerField(
        default=5,
        help_text="Live: the share of the specialist's calls also sent to the LLM in the background and scored "
        "(production agreement). Shadow calls are all scored.",
    )
    tripped_at = models.DateTimeField(
        null=True, blank=True, help_text="When the circuit breaker sent its calls back to the LLM; None: not tripped."
    )
    tripped_reason = models.CharField(max_length=500, blank=True, default="")

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(production_sample_percent__lte=100), name="deployment_production_sample_range"
            ),
            models.UniqueConstraint(
                fields=["cluster"],
                condition=~Q(status="stopped"),
                name="deployment_one_active_per_task",
                violation_error_message="This task has a deployment already: stop it first",
            ),
            models.CheckConstraint(condition=Q(canary_percent__lte=100), name="deployment_canary_range"),
            models.CheckConstraint(condition=Q(mode__in=["shadow", "live"]), name="deployment_mode_valid"),
            models.CheckConstraint(
                condition=Q(status__in=["starting", "serving", "stopped", "failed"]), name="deployment_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(backend__in=["endpoint", "classifier", "local_lora", "vllm_lora"]),
                name="deployment_backend_valid",
            ),
            models.CheckConstraint(
                condition=Q(status="stopped", stopped_at__isnull=False) | (~Q(status="stopped") & Q(stopped_at=None)),
                name="deployment_stopped_at",
                violation_error_message="A stopped deployment, and only one, has the time it stopped",
            ),
        ]
        indexes = [models.Index(fields=["project", "-created_at"], name="deployment_project_time")]

    def __str__(self) -> str:
        return f"{self.get_mode_display().split(':')[0]} {self.canary_percent}% ({self.status})"

    @property
    def routes_to_specialist(self) -> bool:
        """Whether the specialist takes its share of the task's calls now; else they go to the LLM (starting,
        failed, its backend down, or its circuit breaker tripped)."""
        return self.status == DeploymentStatus.SERVING and self.healthy and self.tripped_at is None


class EventKind(models.TextChoices):
    BREAKER_TRIPPED = "breaker_tripped", "Circuit breaker tripped"
    REENABLED = "reenabled", "Re-enabled by hand"
    ROLLBACK = "rollback", "Rolled back"
    RETRAIN_PROPOSED = "retrain_proposed", "Retraining proposed"


class ServingEvent(models.Model):
    """Something that changed where a task's calls go without a person choosing a deployment's settings: a
        breaker trip (with the figures that tripped it), a re-enable, a rollback, a retraining proposed (with the
    figures that raised it). Listed on the task's deployment
        page and by GET /api/v1/events."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="serving_events")
    cluster = models.ForeignKey("discovery.TaskCluster", on_delete=models.CASCADE, related_name="serving_events")
    deployment = models.ForeignKey(Deployment, null=True, blank=True, on_delete=models.SET_NULL, related_name="events")
    kind = models.CharField(max_length=32, choices=EventKind.choices)
    message = models.CharField(max_length=1000)
    figures = models.JSONField(default=dict, blank=True)
    who = models.CharField(max_length=200, help_text="A username, 'API key <name>', or 'circuit breaker'.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["project", "-created_at"], name="serving_event_project_time")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.message}"


class RetrainStatus(models.TextChoices):
    PROPOSED = "proposed", "Proposed"
    RUNNING = "running", "Running"
    AWAITING_APPROVAL = "awaiting_approval", "Awaiting approval"
    DISMISSED = "dismissed", "Dismissed"
    FAILED = "failed", "Failed"


class RetrainStep(models.TextChoices):
    DATASET = "dataset", "Building the dataset"
    TRAINING = "training", "Training"
    EVALUATION = "evaluation", "Evaluating on the frozen test split"
    APPROVAL = "approval", "Approval requested"


OPEN_RETRAIN = ("proposed", "running")


class RetrainProposal(models.Model):
    """Retraining the specialist in production on a task, proposed by the drift check (apps.serving.drift)
    with its reasons and figures, and the round it runs once an owner starts it: a new dataset of the task's
    calls now, a training run from the recipe of `source_run`, an evaluation on the same frozen test split,
    and an approval request. Each step is a job row of its own; `step` says which one the round waits on.
    Nothing is deployed by the round: the candidate waits for an owner's approval on the evaluation report."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="retrain_proposals")
    cluster = models.ForeignKey("discovery.TaskCluster", on_delete=models.CASCADE, related_name="retrain_proposals")
    deployment = models.ForeignKey(
        Deployment, null=True, blank=True, on_delete=models.SET_NULL, related_name="retrain_proposals"
    )
    source_run = models.ForeignKey(
        "specialists.TrainingRun",
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The specialist in production when it was proposed: the recipe the round trains from.",
    )
    reasons = models.JSONField(default=list, help_text='[{"code", "message"}]: the thresholds passed.')
    figures = models.JSONField(default=dict, help_text="What the drift check measured (apps.serving.drift).")
    status = models.CharField(max_length=20, choices=RetrainStatus.choices, default=RetrainStatus.PROPOSED)
    step = models.CharField(max_length=12, choices=RetrainStep.choices, blank=True)
    message = models.CharField(max_length=500, blank=True)
    dataset = models.ForeignKey(
        "specialists.TrainingDataset", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    training_run = models.ForeignKey(
        "specialists.TrainingRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    evaluation = models.ForeignKey(
        "evaluation.Evaluation", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    approval = models.ForeignKey(
        "approvals.SwapApproval", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    who = models.CharField(max_length=200, blank=True, help_text="Who started or dismissed it.")
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    started_by_key = models.ForeignKey(
        "projects.ApiKey", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["cluster"],
                condition=Q(status__in=OPEN_RETRAIN),
                name="retrain_one_open_per_task",
                violation_error_message="This task has a retraining proposed or running already",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["proposed", "running", "awaiting_approval", "dismissed", "failed"]),
                name="retrain_status_valid",
            ),
        ]
        indexes = [models.Index(fields=["project", "-created_at"], name="retrain_project_time")]

    def __str__(self) -> str:
        return f"Retraining {self.get_status_display().lower()}"

    @property
    def current_job(self) -> Any:
        """The job row the round waits on: its dataset, training run or evaluation; None outside those steps."""
        if self.step == RetrainStep.DATASET:
            return self.dataset
        if self.step == RetrainStep.TRAINING:
            return self.training_run
        return self.evaluation if self.step == RetrainStep.EVALUATION else None

    @property
    def percent(self) -> int:
        """The round's progress: a third per job step, each counted by its job's own progress."""
        if self.status == RetrainStatus.AWAITING_APPROVAL:
            return 100
        order = [RetrainStep.DATASET, RetrainStep.TRAINING, RetrainStep.EVALUATION]
        if self.step not in order:
            return 0
        job = self.current_job
        return round((order.index(RetrainStep(self.step)) + (job.progress if job is not None else 0.0)) / 3 * 100)
