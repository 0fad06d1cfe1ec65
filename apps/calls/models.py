import uuid
from decimal import Decimal

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import F
from django.db.models.fields.json import KeyTextTransform

from apps.jobs.models import Job


class CallStatus(models.TextChoices):
    OK = "ok", "OK"
    ERROR = "error", "Error"


class CallRoute(models.TextChoices):
    """Where the gateway sent a call (its metadata's downshift_route); calls logged otherwise have none."""

    LLM = "llm", "LLM"
    SPECIALIST = "specialist", "Specialist"
    ESCALATED = "escalated", "Escalated"
    SHADOW = "shadow", "Shadow"


ROUTE_KEY = "downshift_route"


class Call(models.Model):
    """One chat.completions call an agent made: what it sent, what it got, and what it cost."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="calls")
    # The idempotency key: "id:<client id>" when the client gave one, else a hash of the record.
    dedupe_key = models.CharField(max_length=300)
    client_id = models.CharField(max_length=200, null=True, blank=True)
    agent = models.CharField(max_length=200, blank=True)
    workload = models.CharField(max_length=200, blank=True)
    model = models.CharField(max_length=200)
    timestamp = models.DateTimeField()
    received_at = models.DateTimeField()
    request = models.JSONField()
    response = models.JSONField(null=True)
    finish_reason = models.CharField(max_length=32, blank=True)
    status = models.CharField(max_length=8, choices=CallStatus.choices, default=CallStatus.OK)
    error = models.TextField(blank=True)
    latency_ms = models.IntegerField(null=True)
    ttft_ms = models.IntegerField(null=True)
    prompt_tokens = models.IntegerField(null=True)
    completion_tokens = models.IntegerField(null=True)
    cost = models.DecimalField(max_digits=14, decimal_places=8, null=True)
    trace_id = models.CharField(max_length=128, blank=True)
    span_id = models.CharField(max_length=128, blank=True)
    parent_span_id = models.CharField(max_length=128, blank=True)
    metadata = models.JSONField(default=dict)
    preview = models.CharField(max_length=240, blank=True, help_text="The last user turn, shortened, for lists.")
    pii_counts = models.JSONField(
        default=dict, help_text="PII found and redacted before storage, by type (never values)."
    )
    pii_fields = models.JSONField(default=dict, help_text="Where PII was found (field kind), with counts.")
    curation_version = models.PositiveIntegerField(
        default=0, help_text="The version of the project's curation policy this call was last curated under."
    )
    # Training eligibility: trainable, or excluded for one reason (see apps.curation.eligibility).
    trainable = models.BooleanField(default=True)
    exclusion_reason = models.CharField(max_length=32, blank=True)
    duplicate_of = models.UUIDField(null=True, blank=True)
    prompt_hash = models.CharField(max_length=32, blank=True, help_text="Hash of the normalised prompt.")
    minhash = ArrayField(models.BigIntegerField(), null=True, blank=True)
    near_keys = ArrayField(models.BigIntegerField(), null=True, blank=True, help_text="MinHash LSH band keys.")
    # Task discovery (apps.discovery): the keys of the call's three task texts, and its cluster.
    task_keys = ArrayField(models.CharField(max_length=32), null=True, blank=True)
    call_site = models.CharField(
        max_length=64,
        blank=True,
        db_default="",
        help_text="The request's call site (apps.discovery.callsite); empty: not read yet.",
    )
    task_cluster = models.ForeignKey(
        "discovery.TaskCluster", null=True, blank=True, on_delete=models.SET_NULL, related_name="calls"
    )
    cluster_confidence = models.FloatField(null=True, blank=True)
    cluster_assigned_at = models.DateTimeField(
        null=True, blank=True, help_text="When the call was last assigned; null: not looked at yet."
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "dedupe_key"], name="call_unique_dedupe_key"),
            models.CheckConstraint(condition=models.Q(status__in=["ok", "error"]), name="call_status_valid"),
        ]
        indexes = [
            models.Index(fields=["project", "-timestamp", "-id"], name="call_project_time"),
            models.Index(fields=["project", "agent", "-timestamp"], name="call_project_agent_time"),
            models.Index(fields=["project", "model", "-timestamp"], name="call_project_model_time"),
            models.Index(fields=["project", "workload", "-timestamp"], name="call_project_workload_time"),
            models.Index(fields=["project", "prompt_hash"], name="call_project_prompt_hash"),
            models.Index(fields=["project", "trainable", "-timestamp"], name="call_project_trainable_time"),
            models.Index(fields=["project", "curation_version"], name="call_project_curation_version"),
            models.Index(fields=["project", "task_cluster", "-timestamp"], name="call_project_cluster_time"),
            models.Index(fields=["project", "call_site"], name="call_project_call_site"),
            models.Index(
                fields=["project"], condition=models.Q(cluster_assigned_at=None), name="call_project_unassigned"
            ),
            # The call log's route filter (selectors.call_queryset), on the gateway's calls only.
            models.Index(
                F("project"),
                KeyTextTransform(ROUTE_KEY, "metadata"),
                F("timestamp").desc(),
                name="call_project_route_time",
                condition=models.Q(metadata__has_key=ROUTE_KEY),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.model} call {self.id}"

    @property
    def route(self) -> str:
        """The gateway's route for this call, or "" for a call not through the gateway. The call log's query
        (selectors.call_list) gives it as `gateway_route`, without loading the metadata."""
        if "gateway_route" in self.__dict__:
            route = self.__dict__["gateway_route"]
        else:
            route = self.metadata.get(ROUTE_KEY) if isinstance(self.metadata, dict) else None
        return route if route in CallRoute.values else ""

    def get_route_display(self) -> str:
        return CallRoute(self.route).label if self.route else ""

    @property
    def total_tokens(self) -> int | None:
        if self.prompt_tokens is None and self.completion_tokens is None:
            return None
        return (self.prompt_tokens or 0) + (self.completion_tokens or 0)


class ModelPrice(models.Model):
    """USD per million tokens for a model name; a name also prices its dated variants (gpt-4o-2024-08-06)."""

    model = models.CharField(max_length=200, unique=True)
    input_per_mtok = models.DecimalField(max_digits=10, decimal_places=4, default=Decimal("0"))
    output_per_mtok = models.DecimalField(max_digits=10, decimal_places=4, default=Decimal("0"))
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["model"]

    def __str__(self) -> str:
        return f"{self.model}: ${self.input_per_mtok} in / ${self.output_per_mtok} out per 1M tokens"


class ImportJob(Job):
    """A JSONL file of calls, imported in the background with the same validation as the API."""

    filename = models.CharField(max_length=255)
    path = models.CharField(max_length=500)
    size_bytes = models.BigIntegerField(default=0)
    bytes_done = models.BigIntegerField(default=0)
    lines_done = models.IntegerField(default=0)
    accepted = models.IntegerField(default=0)
    duplicates = models.IntegerField(default=0)
    rejected_count = models.IntegerField(default=0)
    rejected = models.JSONField(default=list, help_text="The first rejected records with their errors.")
    ignored_fields = models.JSONField(default=list)

    class Meta(Job.Meta):
        pass


class RepriceJob(Job):
    """Re-pricing the stored calls of some models after an admin edited their prices; across projects."""

    project = None  # type: ignore[assignment]  # prices are global, so is this job
    prefixes = models.JSONField(default=list, help_text="The ModelPrice names whose calls are re-priced.")
    updated = models.BigIntegerField(default=0)

    class Meta(Job.Meta):
        pass
