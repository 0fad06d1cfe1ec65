import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.jobs.models import Job


def all_models() -> list[str]:
    return ["*"]


class ModelEndpoint(models.Model):
    """An OpenAI-compatible chat.completions server (vLLM, TGI, Ollama, a hosted API) serving one model that
    can stand in for the LLM. Its API key is stored encrypted (apps.evaluation.crypto) and never shown again.
    Its price is per hour of its host, or per million tokens, or unknown.

    An upstream endpoint is one of the project's LLM providers: the gateway forwards a call naming a model
    to the upstream endpoint whose `models` patterns (fnmatch-style, e.g. "gpt-4o*") match that name best
    (selectors.upstream_for)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="model_endpoints")
    name = models.CharField(max_length=100)
    base_url = models.CharField(max_length=500, help_text="e.g. http://vllm:8000/v1; /chat/completions is added.")
    model = models.CharField(max_length=200, help_text="The model name the server expects in requests.")
    api_key_encrypted = models.TextField(blank=True, help_text="Fernet token of the API key; empty: none.")
    price_per_hour = models.DecimalField(max_digits=10, decimal_places=4, null=True, blank=True)
    price_input_per_mtok = models.DecimalField(max_digits=10, decimal_places=4, null=True, blank=True)
    price_output_per_mtok = models.DecimalField(max_digits=10, decimal_places=4, null=True, blank=True)
    upstream = models.BooleanField(default=False, help_text="One of the project's LLM providers (the gateway).")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # Last: from here on, `models` in this class body is the field, not django.db.models.
    models = models.JSONField(
        default=all_models, help_text='The model names it serves as upstream: fnmatch patterns; ["*"]: any.'
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="model_endpoint_unique_name"),
            models.CheckConstraint(condition=~Q(models=[]), name="model_endpoint_models_not_empty"),
            models.CheckConstraint(
                condition=Q(price_per_hour__isnull=True)
                | Q(price_input_per_mtok__isnull=True, price_output_per_mtok__isnull=True),
                name="model_endpoint_one_pricing",
                violation_error_message="Price an endpoint per hour or per token, not both",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.model})"

    @property
    def has_api_key(self) -> bool:
        return bool(self.api_key_encrypted)


class Verdict(models.TextChoices):
    READY = "ready", "Ready"
    NOT_READY = "not_ready", "Not ready"
    INCONCLUSIVE = "inconclusive", "Inconclusive: more test calls needed"


class TaskTestSplit(models.Model):
    """A task's frozen test split: the calls every candidate of the task is scored on. Chosen once, on
    first need: the test split of the task's first dataset when one was built, else about
    EVALUATION_TEST_FRACTION of its trainable calls by a hash of their ids; at most EVALUATION_TEST_CALLS."""

    cluster = models.OneToOneField("discovery.TaskCluster", on_delete=models.CASCADE, related_name="test_split")
    call_ids = models.JSONField(help_text="The calls' ids, in the order they are scored.")
    test_hash = models.CharField(max_length=64, help_text="sha256 of the sorted call ids.")
    dataset = models.ForeignKey(
        "specialists.TrainingDataset",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The dataset whose test split it reuses; null: sampled from the task's calls.",
    )
    created_at = models.DateTimeField(auto_now_add=True)


class TextMetric(models.TextChoices):
    """How a free-text (or code) answer is compared with the LLM's (apps.evaluation.scoring.text)."""

    ROUGE_L = "rouge_l", "ROUGE-L (shared word sequences)"
    COSINE = "cosine", "MiniLM embedding cosine"
    JUDGE = "judge", "LLM judge (rubric score out of 5)"


class TaskScoring(models.Model):
    """How a task's candidates are scored, when it differs from the project's defaults: the agreement target
    (null: EVALUATION_TARGET), and for free text and code the metric and its threshold (null: the metric's
    default, scoring.text.DEFAULT_THRESHOLDS) and, for the judge metric, the endpoint that judges. A task
    without a row is scored with the defaults (selectors.task_scoring_get)."""

    cluster = models.OneToOneField("discovery.TaskCluster", on_delete=models.CASCADE, related_name="scoring")
    target = models.FloatField(null=True, blank=True, help_text="Agreement target; null: EVALUATION_TARGET.")
    text_metric = models.CharField(max_length=16, choices=TextMetric.choices, default=TextMetric.COSINE)
    text_threshold = models.FloatField(
        null=True, blank=True, help_text="Similarity a text answer needs (0 to 1]; null: the metric's default."
    )
    judge_endpoint = models.ForeignKey(
        ModelEndpoint, null=True, blank=True, on_delete=models.PROTECT, related_name="+", help_text="For judge."
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(target__isnull=True) | Q(target__gt=0, target__lt=1), name="task_scoring_target_range"
            ),
            models.CheckConstraint(
                condition=Q(text_threshold__isnull=True) | Q(text_threshold__gt=0, text_threshold__lte=1),
                name="task_scoring_threshold_range",
            ),
            models.CheckConstraint(
                condition=Q(text_metric=TextMetric.JUDGE, judge_endpoint__isnull=False)
                | (~Q(text_metric=TextMetric.JUDGE) & Q(judge_endpoint__isnull=True)),
                name="task_scoring_judge_endpoint",
                violation_error_message="The judge metric needs a judge endpoint, and only it has one",
            ),
        ]


class Evaluation(Job):
    """One candidate scored against the LLM's logged answers on its task's frozen test split. The candidate
    is exactly one of: a model endpoint, a training run (its specialist), or a catalog model with k shots."""

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="evaluations")
    cluster = models.ForeignKey("discovery.TaskCluster", on_delete=models.CASCADE, related_name="evaluations")
    endpoint = models.ForeignKey(
        ModelEndpoint, null=True, blank=True, on_delete=models.PROTECT, related_name="evaluations"
    )
    training_run = models.ForeignKey(
        "specialists.TrainingRun", null=True, blank=True, on_delete=models.PROTECT, related_name="evaluations"
    )
    base_model = models.ForeignKey(
        "specialists.CatalogModel", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    shots = models.PositiveIntegerField(null=True, blank=True, help_text="Examples in the prompt (base model).")
    kind = models.CharField(max_length=16, help_text="The output kind scored: label, json, tool_calls, sql, text.")
    target = models.FloatField(help_text="The agreement the whole 95% interval must reach to be ready.")
    text_metric = models.CharField(
        max_length=16, choices=TextMetric.choices, blank=True, help_text="Free text and code: how it is scored."
    )
    text_threshold = models.FloatField(null=True, blank=True, help_text="Free text and code: the threshold used.")
    judge_endpoint = models.ForeignKey(
        ModelEndpoint, null=True, blank=True, on_delete=models.PROTECT, related_name="+", help_text="For judge."
    )
    test_hash = models.CharField(max_length=64, blank=True, help_text="sha256 of the sorted test call ids.")
    test_calls = models.IntegerField(default=0)
    calls_done = models.IntegerField(default=0, help_text="Test calls scored so far.")
    agreed = models.IntegerField(default=0)
    agreement = models.FloatField(null=True, blank=True)
    agreement_low = models.FloatField(null=True, blank=True)
    agreement_high = models.FloatField(null=True, blank=True)
    verdict = models.CharField(max_length=16, choices=Verdict.choices, blank=True)
    calls_to_settle = models.IntegerField(
        null=True, blank=True, help_text="Test calls in all that would settle an inconclusive verdict."
    )
    metrics = models.JSONField(default=dict, help_text="The output kind's metrics (scoring.summarise).")
    latency_p50_ms = models.FloatField(null=True, blank=True)
    latency_p95_ms = models.FloatField(null=True, blank=True)
    output_tokens = models.BigIntegerField(null=True, blank=True, help_text="Total over the test calls.")
    cost_per_1k_calls = models.DecimalField(
        max_digits=14, decimal_places=6, null=True, blank=True, help_text="The candidate's, in USD."
    )
    llm_cost_per_1k_calls = models.DecimalField(
        max_digits=14, decimal_places=6, null=True, blank=True, help_text="The LLM's, from the logged calls."
    )

    class Meta(Job.Meta):
        constraints = [
            models.CheckConstraint(
                condition=Q(endpoint__isnull=False, training_run__isnull=True, base_model__isnull=True, shots=None)
                | Q(endpoint__isnull=True, training_run__isnull=False, base_model__isnull=True, shots=None)
                | Q(endpoint__isnull=True, training_run__isnull=True, base_model__isnull=False, shots__isnull=False),
                name="evaluation_one_candidate",
                violation_error_message="An evaluation has exactly one candidate: an endpoint, a training run, "
                "or a base model with its number of shots",
            ),
            models.CheckConstraint(condition=Q(target__gt=0, target__lt=1), name="evaluation_target_range"),
        ]
        indexes = [models.Index(fields=["project", "cluster", "-created_at"], name="evaluation_project_cluster")]

    @property
    def candidate_kind(self) -> str:
        if self.endpoint_id:
            return "endpoint"
        return "training_run" if self.training_run_id else "base_model"

    @property
    def candidate_name(self) -> str:
        """The candidate in a few words: an endpoint's name ("my-vllm"), "specialist 1a2b3c4d (LoRA on
        SmolLM2-135M)", "SmolLM2-135M, 4-shot"."""
        if self.endpoint is not None:
            return self.endpoint.name
        run = self.training_run
        if run is not None:
            what = f"LoRA on {run.base_model.name}" if run.base_model else "classifier"
            return f"specialist {str(run.id)[:8]} ({what})"
        assert self.base_model is not None
        return f"{self.base_model.name}, {self.shots or 0}-shot"

    @property
    def queue(self) -> str:
        """cpu for endpoints and classifiers; gpu for local language models (a gpu-queue worker without a
        GPU runs them on its CPU, as it trains LoRA)."""
        if self.endpoint_id:
            return "cpu"
        if self.training_run is not None and self.training_run.kind == "classifier":
            return "cpu"
        return "gpu"


class EvaluationResult(models.Model):
    """One test call scored: the candidate's answer against the LLM's. Unique per call, so an evaluation
    resumed after its worker was lost never stores (or pays for) a call twice."""

    evaluation = models.ForeignKey(Evaluation, on_delete=models.CASCADE, related_name="results")
    call = models.ForeignKey("calls.Call", on_delete=models.CASCADE, related_name="+")
    agree = models.BooleanField()
    reason = models.CharField(max_length=300, help_text="'match', or the first reason it does not agree.")
    details = models.JSONField(default=dict, help_text="What the kind's summary adds up (CallScore.details).")
    reference = models.JSONField(null=True, help_text="The LLM's logged answer (assistant message).")
    output = models.JSONField(null=True, help_text="The candidate's answer (assistant message).")
    latency_ms = models.FloatField()
    input_tokens = models.IntegerField(null=True, blank=True)
    output_tokens = models.IntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["evaluation", "call"], name="evaluation_result_unique_call"),
        ]
