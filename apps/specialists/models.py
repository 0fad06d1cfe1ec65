import uuid

from django.conf import settings
from django.db import models

from apps.jobs.models import Job


class CatalogModel(models.Model):
    """A small model a specialist can start from: seeded from apps/specialists/catalog.json (with
    sources), or added by an admin by Hugging Face id or local path. Nothing is downloaded at request
    time: a worker either has the weights (local path or its Hugging Face cache) or says so."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    hf_id = models.CharField(max_length=200, unique=True, help_text="Hugging Face id, or a local folder path.")
    name = models.CharField(max_length=120)
    family = models.CharField(max_length=60, blank=True)
    params_b = models.FloatField(help_text="Parameters, in billions.")
    licence = models.CharField(max_length=80, help_text="SPDX id where there is one, e.g. apache-2.0, mit, llama3.2.")
    licence_url = models.URLField(blank=True)
    context_window = models.PositiveIntegerField(help_text="Tokens.")
    architecture = models.CharField(max_length=60, blank=True, help_text="e.g. LlamaForCausalLM")
    chat_template = models.BooleanField(default=True)
    tool_calling = models.BooleanField(default=False, help_text="Its chat template renders tools and tool calls.")
    source_url = models.URLField(blank=True, help_text="Where the figures come from (model card).")
    local_path = models.CharField(max_length=500, blank=True, help_text="Weights on disk, when not in the HF cache.")
    seeded = models.BooleanField(default=False, help_text="From the shipped catalog file.")
    enabled = models.BooleanField(default=True)
    price_per_hour = models.DecimalField(
        max_digits=10,
        decimal_places=4,
        null=True,
        blank=True,
        help_text="USD per hour of the host that would serve it: prices its evaluations per 1000 calls.",
    )
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["params_b", "name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.params_b:g}B)"


class SpecialistKind(models.TextChoices):
    LORA = "lora", "LoRA adapter on a small LM"
    CLASSIFIER = "classifier", "Classifier on sentence embeddings"


class TrainingDataset(Job):
    """A cluster's trainable calls split into train / validation / test (never one trace or
    conversation across two sets), formatted for one base model. The row is also the job that builds it
    (status, progress): the counts, hash and files are there once it succeeded. The test split is
    frozen: its hash lets later evaluations compare like with like."""

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="datasets")
    cluster = models.ForeignKey("discovery.TaskCluster", on_delete=models.CASCADE, related_name="datasets")
    kind = models.CharField(max_length=16, choices=SpecialistKind.choices, default=SpecialistKind.LORA)
    base_model = models.ForeignKey(CatalogModel, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    seed = models.IntegerField(default=13)
    val_fraction = models.FloatField(default=0.1)
    test_fraction = models.FloatField(default=0.1)
    train_count = models.IntegerField(default=0)
    val_count = models.IntegerField(default=0)
    test_count = models.IntegerField(default=0)
    test_hash = models.CharField(max_length=64, blank=True, help_text="sha256 over the frozen test split.")
    warnings = models.JSONField(default=list)
    path = models.CharField(max_length=500, blank=True, help_text="Folder with train/val/test JSONL.")
    calls_done = models.IntegerField(default=0, help_text="Calls read so far by the build.")
    calls_total = models.IntegerField(default=0, help_text="Calls the build reads.")

    class Meta(Job.Meta):
        pass


class Split(models.TextChoices):
    TRAIN = "train", "Train"
    VAL = "val", "Validation"
    TEST = "test", "Test"


class DatasetExample(models.Model):
    dataset = models.ForeignKey(TrainingDataset, on_delete=models.CASCADE, related_name="examples")
    call = models.ForeignKey("calls.Call", on_delete=models.CASCADE, related_name="+")
    split = models.CharField(max_length=5, choices=Split.choices)
    group_key = models.CharField(max_length=64, help_text="Trace or conversation: one group, one split.")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["dataset", "call"], name="dataset_example_unique_call")]
        indexes = [models.Index(fields=["dataset", "split"], name="dataset_example_split")]


class TrainingRun(Job):
    """Fine-tuning one specialist: LoRA / QLoRA on the gpu queue, or a classifier on the cpu queue."""

    cluster = models.ForeignKey("discovery.TaskCluster", on_delete=models.CASCADE, related_name="training_runs")
    dataset = models.ForeignKey(TrainingDataset, on_delete=models.PROTECT, related_name="training_runs")
    kind = models.CharField(max_length=16, choices=SpecialistKind.choices, default=SpecialistKind.LORA)
    base_model = models.ForeignKey(CatalogModel, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    method = models.CharField(max_length=8, blank=True, help_text="lora, qlora or classifier (as run).")
    params = models.JSONField(default=dict, help_text="Hyper-parameters; defaults filled in at creation.")
    queue = models.CharField(max_length=8, default="gpu")
    gpu_waits = models.PositiveIntegerField(
        default=0, help_text="Times a worker put it back to wait for GPU memory; each re-send is delayed."
    )
    memory_estimate_mb = models.IntegerField(default=0, help_text="GPU memory the job needs to start.")
    gpu_worker = models.CharField(max_length=200, blank=True, help_text="The worker that runs it now.")
    step = models.IntegerField(default=0)
    total_steps = models.IntegerField(default=0)
    tokens_per_s = models.FloatField(null=True, blank=True)
    eta_s = models.FloatField(null=True, blank=True)
    gpu_memory_mb = models.FloatField(null=True, blank=True)
    history = models.JSONField(default=list, help_text="[{step, train_loss, val_loss, tokens_per_s, ...}]")
    metrics = models.JSONField(default=dict, help_text="Final metrics (val loss, test accuracy, ...).")
    checkpoint_path = models.CharField(max_length=500, blank=True)
    artifact_path = models.CharField(max_length=500, blank=True)

    class Meta(Job.Meta):
        pass
