"""Which small model a task should start from: hard constraints (licence, GPU memory, context window,
tool calling), then a fit score that prefers the smallest model likely to be good enough. Reasons are
written for the people who decide, not for the people who train."""

import math
from dataclasses import dataclass, field

from django.conf import settings

from apps.discovery.models import TaskCluster
from apps.discovery.selectors import cluster_stats
from apps.discovery.texts import OUTPUT_KIND_LABELS, OutputKind
from apps.specialists.catalog import MemoryEstimate, model_memory
from apps.specialists.models import CatalogModel, SpecialistKind

CLASSIFIER_NAME = "Classifier (MiniLM embeddings + linear head)"
CLASSIFIER_LICENCE = "apache-2.0"  # all-MiniLM-L6-v2
CLASSIFIER_MAX_LABELS = 200
# Output kinds a small model handles well; others (free text, code) want a larger one.
NARROW_KINDS = frozenset({OutputKind.LABEL, OutputKind.JSON, OutputKind.SQL, OutputKind.TOOL_CALLS})
SMALL_ENOUGH_B = {True: 1.5, False: 3.0}  # narrow output -> 1.5B is plenty; open output -> from 3B


@dataclass
class Candidate:
    model: CatalogModel | None  # None: the classifier
    kind: str
    eligible: bool
    score: float
    reasons: list[str] = field(default_factory=list)
    failed_constraints: list[str] = field(default_factory=list)
    memory: MemoryEstimate | None = None
    recommended: bool = False

    @property
    def name(self) -> str:
        return self.model.name if self.model else CLASSIFIER_NAME

    @property
    def key(self) -> str:
        """What a form or the API sends to choose it: the catalog id, or "classifier"."""
        return str(self.model.id) if self.model else SpecialistKind.CLASSIFIER.value


@dataclass
class Ranking:
    candidates: list[Candidate]
    gpu_memory_mb: int
    gpu_assumed: bool  # no GPU worker registered: the default size was used
    prompt_p99: float | None
    notes: list[str]

    @property
    def recommended(self) -> Candidate | None:
        return next((c for c in self.candidates if c.recommended), None)


def _gb(mb: float) -> str:
    return f"{mb / 1024:.1f} GB"


def _tokens(n: float) -> str:
    return f"{round(n):,} tokens"


def _size_score(params_b: float, narrow: bool) -> tuple[float, str]:
    """Smallest likely-enough wins: narrow outputs are fine on 0.5-1.5B; open-ended ones want 3B+."""
    enough = SMALL_ENOUGH_B[narrow]
    if params_b < 0.3:
        return -18.0, f"Very small ({params_b:g}B parameters): cheapest to run, but may miss the harder cases."
    if params_b <= enough:
        if narrow:
            return 0.0, f"Small ({params_b:g}B parameters): enough for a narrow, checkable answer, and cheap to run."
        return -14 * math.log2(enough / params_b), (
            f"Small ({params_b:g}B parameters) for open-ended answers: quality may fall short of the LLM."
        )
    penalty = 10 * math.log2(params_b / enough)
    if narrow:
        return (
            -penalty,
            f"Larger ({params_b:g}B parameters) than this kind of answer usually needs: slower and costlier.",
        )
    return -penalty / 3, f"Mid-sized ({params_b:g}B parameters): room for open-ended answers."


def _rank_model(
    model: CatalogModel,
    *,
    output_kind: str,
    prompt_p99: float | None,
    allowed: set[str],
    gpu_memory_mb: int,
) -> Candidate:
    memory = model_memory(model)
    reasons: list[str] = []
    failed: list[str] = []
    narrow = output_kind in NARROW_KINDS
    if model.licence.lower() not in allowed:
        failed.append(
            f"Its licence ({model.licence}) is not on the allowed list ({', '.join(sorted(allowed))}); "
            "an admin can allow it with SPECIALIST_LICENCE_ALLOW."
        )
    if memory.train_qlora_mb > gpu_memory_mb:
        failed.append(
            f"Too big for the largest GPU ({_gb(gpu_memory_mb)}): fine-tuning needs about "
            f"{_gb(memory.train_qlora_mb)} even with 4-bit weights."
        )
    elif memory.train_lora_mb > gpu_memory_mb:
        reasons.append(
            f"Fits the GPU only with 4-bit weights (QLoRA, about {_gb(memory.train_qlora_mb)}); "
            f"bf16 LoRA would need {_gb(memory.train_lora_mb)}."
        )
    else:
        reasons.append(f"Fine-tunes in about {_gb(memory.train_lora_mb)} of GPU memory (LoRA, bf16).")
    if prompt_p99 is not None and model.context_window <= prompt_p99:
        failed.append(
            f"Its context window ({_tokens(model.context_window)}) is shorter than this task's long prompts "
            f"(99% are up to {_tokens(prompt_p99)})."
        )
    if output_kind == OutputKind.TOOL_CALLS and not model.tool_calling:
        failed.append("It was not trained to call tools, and this task answers with tool calls.")

    size_score, size_reason = _size_score(model.params_b, narrow)
    score = 100 + size_score
    reasons.insert(0, size_reason)
    if output_kind == OutputKind.TOOL_CALLS and model.tool_calling:
        score += 25
        reasons.append("Trained to call tools, as this task does.")
    if prompt_p99:
        headroom = model.context_window / prompt_p99
        if headroom > 1:
            score += min(8.0, 2 * math.log2(headroom))
            if headroom < 2:
                score -= 6
                reasons.append(
                    f"Little room left: its context window ({_tokens(model.context_window)}) is under twice "
                    f"this task's long prompts ({_tokens(prompt_p99)})."
                )
            else:
                reasons.append(f"Context window ({_tokens(model.context_window)}) holds this task's longest prompts.")
    if not model.chat_template:
        score -= 20
        reasons.append("It has no chat template: the training job has to supply a prompt format.")
    return Candidate(
        model=model,
        kind=SpecialistKind.LORA,
        eligible=not failed,
        score=round(score, 1),
        reasons=reasons,
        failed_constraints=failed,
        memory=memory,
    )


def _classifier(cluster: TaskCluster, allowed: set[str]) -> Candidate:
    labels = len(cluster.labels or [])
    reasons = [
        f"Every answer is one of {labels} label{'s' if labels != 1 else ''}: a classifier on MiniLM sentence "
        "embeddings with a linear head can give them, trains on CPU in minutes, and needs no GPU to serve.",
        "It reads only the last user message (its first 256 word pieces), not the system prompt or history.",
    ]
    failed = []
    if CLASSIFIER_LICENCE not in allowed:
        failed.append(f"MiniLM's licence ({CLASSIFIER_LICENCE}) is not on the allowed list.")
    score = 112.0
    if labels > CLASSIFIER_MAX_LABELS:
        score -= 30
        reasons.append(f"Many labels ({labels}): rare ones may have too few examples to learn from.")
    return Candidate(
        model=None,
        kind=SpecialistKind.CLASSIFIER,
        eligible=not failed,
        score=score,
        reasons=reasons,
        failed_constraints=failed,
    )


def candidates_rank(
    cluster: TaskCluster,
    *,
    licence_allow_list: list[str] | None = None,
    gpu_memory_mb: int | None = None,
    models: list[CatalogModel] | None = None,
) -> Ranking:
    """Every enabled catalog model (and, for a closed label set, the classifier), eligible first and
    best first. The first eligible one is the recommendation."""
    allowed = {item.lower() for item in (licence_allow_list or settings.SPECIALIST_LICENCE_ALLOW)}
    notes: list[str] = []
    assumed = gpu_memory_mb is None
    if gpu_memory_mb is None:
        gpu_memory_mb = settings.DEFAULT_GPU_MEMORY_MB
        notes.append(
            f"No GPU worker has registered yet, so a {_gb(gpu_memory_mb)} GPU is assumed (DEFAULT_GPU_MEMORY_MB)."
        )
    stats = cluster_stats(project=cluster.project, cluster_ids=[cluster.id]).get(cluster.id)
    prompt_p99 = stats.prompt_p99 if stats else None
    if prompt_p99 is None:
        notes.append("Prompt lengths are not known (no token counts were logged): check context windows yourself.")
    output_kind = cluster.output_kind
    if output_kind not in OUTPUT_KIND_LABELS:
        notes.append("The kind of answer is not known yet: sizes are judged as for free text.")
    pool = models if models is not None else list(CatalogModel.objects.filter(enabled=True))
    ranked = [
        _rank_model(m, output_kind=output_kind, prompt_p99=prompt_p99, allowed=allowed, gpu_memory_mb=gpu_memory_mb)
        for m in pool
    ]
    if output_kind == OutputKind.LABEL:
        ranked.append(_classifier(cluster, allowed))
    ranked.sort(key=lambda c: (not c.eligible, -c.score, c.model.params_b if c.model else 0.0, c.name))
    if ranked and ranked[0].eligible:
        ranked[0].recommended = True
    return Ranking(ranked, gpu_memory_mb, assumed, prompt_p99, notes)
