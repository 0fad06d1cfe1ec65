"""Scoring a candidate small model against the LLM's own logged answers, one call at a time.

score() compares a candidate's output with the reference (the LLM's answer as logged) by the task's
output kind and says whether they agree; summarise() adds up one kind's scores into its metrics, with
agreement (the share of calls that agree, with its Wilson 95% interval) first. Kinds are the output
kinds of task discovery (apps.discovery.texts.OutputKind); code is scored as free text. Pure functions
of plain values: no Django, no database, no model loaded (free text takes an `embed` function).
"""

from collections.abc import Sequence
from typing import Any

from apps.common.messages import content_text
from apps.evaluation.scoring.json_output import score_json, summarise_json
from apps.evaluation.scoring.label import score_label, summarise_label
from apps.evaluation.scoring.result import CallScore, agreement_summary
from apps.evaluation.scoring.sql import score_sql, summarise_sql
from apps.evaluation.scoring.text import Embed, score_text, summarise_text
from apps.evaluation.scoring.tool_calls import score_tool_calls, summarise_tool_calls

__all__ = ["KINDS", "TEXT", "CallScore", "agreement_values", "answer_text", "resolve_kind", "score", "summarise"]

LABEL, JSON, TOOL_CALLS, SQL, TEXT = "label", "json", "tool_calls", "sql", "text"
KINDS = (LABEL, JSON, TOOL_CALLS, SQL, TEXT)
# Output kinds of task discovery scored as another kind.
KIND_ALIASES = {"code": TEXT}


def resolve_kind(kind: str) -> str:
    """The scoring kind of an output kind; ValueError for one that cannot be scored ("none")."""
    resolved = KIND_ALIASES.get(kind, kind)
    if resolved not in KINDS:
        raise ValueError(f"no scoring for output kind {kind!r}; expected one of {', '.join(KINDS)} or code")
    return resolved


def _answer(value: Any, kind: str) -> Any:
    """What to compare in an answer given as the logged assistant message (a dict with a "role") or
    as the bare value: its tool calls, or its text. A JSON answer may also be an already parsed value."""
    is_message = isinstance(value, dict) and "role" in value
    if kind == TOOL_CALLS:
        return value.get("tool_calls") if is_message else value
    if is_message:
        return content_text(value.get("content"))
    if kind == JSON and isinstance(value, dict | list):
        return value
    return value if isinstance(value, str) else "" if value is None else str(value)


def answer_text(value: Any) -> str:
    """A free-text answer's text: the content of the logged assistant message, or the bare value."""
    text = _answer(value, TEXT)
    return text if isinstance(text, str) else str(text)


def request_json_schema(request: dict[str, Any] | None) -> dict[str, Any] | None:
    """The schema of a request's response_format {"type": "json_schema", "json_schema": {"schema": ...}}."""
    fmt = (request or {}).get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema" and isinstance(fmt.get("json_schema"), dict):
        schema = fmt["json_schema"].get("schema")
        return schema if isinstance(schema, dict) else None
    return None


def score(
    kind: str,
    request: dict[str, Any] | None,
    reference: Any,
    output: Any,
    *,
    tools: list[dict[str, Any]] | None = None,
    json_schema: dict[str, Any] | None = None,
    threshold: float | None = None,
    embed: Embed | None = None,
    dialect: str | None = None,
) -> CallScore:
    """One call scored. `request` is the logged chat.completions request: its `tools` and its
    response_format's JSON schema are used unless `tools` / `json_schema` are given. `threshold` is the
    free-text similarity a text answer needs (default per metric, see text.DEFAULT_THRESHOLDS); `embed`
    makes that similarity the embeddings' cosine instead of ROUGE-L; `dialect` is sqlglot's."""
    kind = resolve_kind(kind)
    ref, out = _answer(reference, kind), _answer(output, kind)
    if kind == LABEL:
        return score_label(ref, out)
    if kind == JSON:
        return score_json(
            ref, out, json_schema=json_schema if json_schema is not None else request_json_schema(request)
        )
    if kind == TOOL_CALLS:
        return score_tool_calls(ref, out, tools=tools if tools is not None else (request or {}).get("tools"))
    if kind == SQL:
        return score_sql(ref, out, dialect=dialect)
    return score_text(ref, out, threshold=threshold, embed=embed)


def summarise(kind: str, scores: Sequence[CallScore], *, labels: Sequence[str] | None = None) -> dict[str, Any]:
    """One kind's metrics over its scored calls: agreement and its interval, failure groups, and the
    kind's own metrics (see summarise_* in each module). `labels` is the closed label set, if known."""
    kind = resolve_kind(kind)
    summary = agreement_summary(scores)
    if kind == LABEL:
        summary |= summarise_label(scores, labels=labels)
    elif kind == JSON:
        summary |= summarise_json(scores)
    elif kind == TOOL_CALLS:
        summary |= summarise_tool_calls(scores)
    elif kind == SQL:
        summary |= summarise_sql(scores)
    else:
        summary |= summarise_text(scores)
    return summary


def agreement_values(scores: Sequence[CallScore]) -> list[float]:
    """1.0 for each call that agrees, else 0.0: per-call values for stats.bootstrap_difference_interval."""
    return [1.0 if s.agree else 0.0 for s in scores]
