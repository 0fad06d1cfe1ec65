"""Swap approvals: the product owner's decisions to move a task from the LLM to an evaluated candidate.

Every decision is a new, immutable row (who, when, why, the rollout asked for, and a frozen copy of the
evidence it was taken on); a revocation is a new row pointing at the approval it revokes. Updates are
refused three times over: by save(), by the queryset, and by a trigger in the database (0001_initial)."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.common.errors import Conflict
from apps.evaluation.models import Verdict


class Decision(models.TextChoices):
    REQUEST = "request", "Approval requested"
    APPROVE = "approve", "Approved"
    REJECT = "reject", "Rejected"
    REVOKE = "revoke", "Revoked"


class ImmutableRecord(Conflict):
    code = "immutable"

    def __init__(self) -> None:
        super().__init__("A swap approval is never changed: record a new decision (revoking is a new record).")


class SwapApprovalQuerySet(models.QuerySet["SwapApproval"]):
    def update(self, **kwargs: object) -> int:
        raise ImmutableRecord

    def bulk_update(self, *args: object, **kwargs: object) -> int:
        raise ImmutableRecord


class SwapApproval(models.Model):
    """One decision on one evaluated candidate of a task: requested, approved, rejected or revoked.

    `evidence` is what the decision was taken on, copied from the evaluation when it was recorded
    (candidate, metrics, agreement and its interval, verdict, test hash, artifact hash), so the record
    still says what was approved if the evaluation's row were ever changed. `rollout` is the rollout
    asked for: {"shadow": bool, "canary_percent": 0-100, "escalate_on_invalid": bool}."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="swap_approvals")
    cluster = models.ForeignKey("discovery.TaskCluster", on_delete=models.CASCADE, related_name="swap_approvals")
    evaluation = models.ForeignKey("evaluation.Evaluation", on_delete=models.PROTECT, related_name="swap_approvals")
    decision = models.CharField(max_length=8, choices=Decision.choices)
    revokes = models.OneToOneField(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="revoked_by",
        help_text="The approval this record revokes (revocations only).",
    )
    comment = models.TextField(blank=True)
    reason_not_ready = models.TextField(
        blank=True, help_text="Why a candidate whose verdict is not 'ready' was approved anyway."
    )
    rollout = models.JSONField(default=dict, blank=True)
    verdict = models.CharField(
        max_length=16, choices=Verdict.choices, help_text="The evaluation's verdict when the decision was taken."
    )
    evidence = models.JSONField(default=dict)
    who = models.CharField(max_length=200, help_text="The person's username, or 'API key <name>'.")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    api_key = models.ForeignKey("projects.ApiKey", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = SwapApprovalQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(decision__in=Decision.values), name="swap_approval_decision_valid"),
            models.CheckConstraint(
                condition=Q(decision=Decision.REVOKE, revokes__isnull=False)
                | (~Q(decision=Decision.REVOKE) & Q(revokes__isnull=True)),
                name="swap_approval_revoke_points_at_approval",
                violation_error_message="A revocation, and only a revocation, points at the approval it revokes",
            ),
            models.CheckConstraint(
                condition=~Q(decision=Decision.APPROVE) | Q(verdict=Verdict.READY) | ~Q(reason_not_ready=""),
                name="swap_approval_not_ready_needs_reason",
                violation_error_message="Approving a candidate that is not ready needs a written reason",
            ),
            models.CheckConstraint(
                condition=~Q(user__isnull=False, api_key__isnull=False), name="swap_approval_one_actor"
            ),
        ]
        indexes = [
            models.Index(fields=["project", "-created_at"], name="swap_approval_project_time"),
            models.Index(fields=["cluster", "-created_at"], name="swap_approval_cluster_time"),
        ]

    def __str__(self) -> str:
        return f"{self.get_decision_display()} by {self.who}"

    def save(self, *args: object, **kwargs: object) -> None:
        if not self._state.adding:
            raise ImmutableRecord
        super().save(*args, **kwargs)  # type: ignore[arg-type]

    def delete(self, *args: object, **kwargs: object) -> tuple[int, dict[str, int]]:
        raise ImmutableRecord
