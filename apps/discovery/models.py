import uuid

from django.contrib.postgres.fields import ArrayField
from django.db import models

from apps.jobs.models import Job


class RunKind(models.TextChoices):
    FULL = "full", "Discovery"
    SPLIT = "split", "Split of one task"


class DiscoveryRun(Job):
    """One pass of task discovery over a project's calls (or, for a split, over one task's calls)."""

    kind = models.CharField(max_length=8, choices=RunKind.choices, default=RunKind.FULL)
    since = models.DateTimeField(null=True, blank=True)
    until = models.DateTimeField(null=True, blank=True)
    agents = ArrayField(models.CharField(max_length=200), default=list, blank=True)
    target = models.ForeignKey(
        "discovery.TaskCluster", null=True, blank=True, on_delete=models.CASCADE, related_name="split_runs"
    )
    min_cluster_size = models.PositiveIntegerField(null=True, blank=True)
    calls_total = models.IntegerField(default=0)
    texts_total = models.IntegerField(default=0, help_text="Distinct texts the calls were read as.")
    texts_embedded = models.IntegerField(default=0, help_text="Texts embedded in this run (the rest were cached).")
    clusters_found = models.IntegerField(default=0)
    unassigned = models.IntegerField(default=0)
    timings = models.JSONField(default=dict, help_text="Seconds per stage.")
    changes = models.JSONField(default=dict, help_text="What changed against the clusters before this run.")
    map_points = models.JSONField(default=list, help_text="[x, y, cluster id or null, call id] for the map.")

    class Meta(Job.Meta):
        constraints = [
            models.UniqueConstraint(
                fields=["project"],
                condition=models.Q(status__in=["queued", "running"]),
                name="discovery_one_active_run_per_project",
                violation_error_message="A discovery run is already queued or running for this project",
            )
        ]


class ClusterStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    MERGED = "merged", "Merged into another"
    SPLIT = "split", "Split"
    RETIRED = "retired", "No longer found"


class TaskCluster(models.Model):
    """A recurring task found in the calls. Its identity, name and people's decisions outlive the run
    that found it: the next run matches its clusters to these by the calls they share."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="task_clusters")
    number = models.PositiveIntegerField(help_text="T1, T2, ... within the project.")
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    edited = models.BooleanField(default=False, help_text="People named, merged, split or kept it: runs keep it whole.")
    status = models.CharField(max_length=8, choices=ClusterStatus.choices, default=ClusterStatus.ACTIVE)
    keep_on_llm = models.BooleanField(default=False, help_text="People decided this task stays on the LLM.")
    merged_into = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children")
    keywords = models.JSONField(default=list)
    output_kind = models.CharField(max_length=16, blank=True)
    labels = models.JSONField(default=list, help_text="For a closed label set: the labels, most frequent first.")
    json_keys = models.JSONField(default=list)
    representatives = models.JSONField(default=list, help_text="Ids of the calls closest to the centre.")
    centroid = ArrayField(models.FloatField(), null=True, blank=True)
    spread = models.FloatField(default=1.0)
    threshold = models.FloatField(default=0.0)
    # Every centre the task answers to: one per cluster it took in a run, plus those of tasks merged
    # into it ({"centroid", "spread", "threshold"}). New calls are assigned against all of them.
    centres = models.JSONField(default=list, blank=True)
    first_run = models.ForeignKey(DiscoveryRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    last_run = models.ForeignKey(DiscoveryRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # Statistics of its calls (apps.discovery.stats), refreshed when they change: pages never compute them.
    stats = models.JSONField(default=dict, blank=True)
    stats_at = models.DateTimeField(null=True, blank=True, help_text="When the statistics were computed.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["number"]
        constraints = [models.UniqueConstraint(fields=["project", "number"], name="task_cluster_unique_number")]
        indexes = [models.Index(fields=["project", "status"], name="task_cluster_project_status")]

    def __str__(self) -> str:
        return f"T{self.number} {self.name}"

    @property
    def code(self) -> str:
        return f"T{self.number}"


class TaskEmbedding(models.Model):
    """The embedding cache: one vector per distinct text and model, keyed by their hash."""

    key = models.CharField(max_length=32, primary_key=True)
    text = models.TextField()
    vector = models.BinaryField(help_text="float32, unit length")
    created_at = models.DateTimeField(auto_now_add=True)
