"""The gateway's counters for GET /metrics: each call's final record (the one its log gets) is counted by
project, task and route, its latency by route, an escalation by its reason and an upstream error by its
status class. Label values come from small sets or ids (projects, tasks): never a prompt, a key or a free-text
reason, which is put in one of REASONS first.

Counting costs microseconds (prometheus-client writes to a memory-mapped file of this process; the scrape adds
every process's files up, see controlplane/metrics.py) and never fails a call: an error here is logged, at
most once a minute, and the call goes on."""

import logging
import time
from typing import Any

from prometheus_client import Counter, Histogram

logger = logging.getLogger(__name__)

# Escalation reasons (core.py's free text, and the CPU backend's "not available in this process") to labels.
# The first needle found in the lower-cased reason wins; an unknown reason is "other".
REASONS = (
    ("invalid answer", "invalid_answer"),
    ("timed out", "timeout"),
    ("is down", "down"),
    ("unreachable", "down"),
    ("answered http", "http_error"),
    ("not json", "not_json"),
    ("not a chat completion", "not_completion"),
    ("not available in this process", "no_backend"),
)
OTHER = "other"

REQUESTS = Counter("downshift_gateway_requests", "Calls answered by the gateway.", ["project", "task", "route"])
LATENCY = Histogram(
    "downshift_gateway_request_duration_seconds",
    "Time from a call's arrival to its answer (a streamed answer: its last chunk), by route.",
    ["route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0),
)
ESCALATIONS = Counter(
    "downshift_gateway_escalations",
    "Calls a specialist should have answered that went to the LLM, by reason ("
    + ", ".join(sorted({label for _, label in REASONS} | {OTHER}))
    + ").",
    ["reason"],
)
UPSTREAM_ERRORS = Counter(
    "downshift_gateway_upstream_errors",
    "Calls the upstream LLM failed: its HTTP status class (4xx, 5xx; the gateway's own 502 and 504 when it "
    "was unreachable or too slow) or unreadable (no answer could be read).",
    ["status_class"],
)
SHADOW_ANSWERS = Counter(
    "downshift_gateway_shadow_answers",
    "Shadow answers of specialists, by agreement with the LLM's (agree, disagree, unscored).",
    ["project", "task", "agreement"],
)

_warned_at = -1e9


def reason_label(reason: str) -> str:
    lowered = reason.lower()
    for needle, label in REASONS:
        if needle in lowered:
            return label
    return OTHER


def _status_class(record: dict[str, Any]) -> str | None:
    if record.get("status") != "error":
        return None
    code = str(record.get("error", "")).removeprefix("upstream answered HTTP ")
    return f"{code[0]}xx" if code.isdigit() else "unreadable"


def observe(project_id: Any, record: dict[str, Any]) -> None:
    """Count one call from its final record (Call.record's shape: the route, task, escalation reason and
    shadow agreement in its metadata)."""
    try:
        metadata = record["metadata"]
        route = metadata.get("downshift_route", "llm")
        REQUESTS.labels(str(project_id), metadata.get("downshift_task", "none"), route).inc()
        LATENCY.labels(route).observe(record.get("latency_ms", 0) / 1000)
        reason = metadata.get("downshift_escalation")
        if reason:
            ESCALATIONS.labels(reason_label(str(reason))).inc()
        status_class = _status_class(record)
        if status_class is not None:
            UPSTREAM_ERRORS.labels(status_class).inc()
        shadow = metadata.get("downshift_shadow")
        if isinstance(shadow, dict):
            agree = shadow.get("agree")
            agreement = "unscored" if agree is None else ("agree" if agree else "disagree")
            SHADOW_ANSWERS.labels(str(project_id), metadata.get("downshift_task", "none"), agreement).inc()
    except Exception as exc:  # a metric must never fail a call
        global _warned_at
        if time.monotonic() - _warned_at > 60:
            _warned_at = time.monotonic()
            logger.warning("gateway: a call was not counted in the metrics (%r)", exc)
