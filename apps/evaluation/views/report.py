"""The evaluation report of a task, the product owner's page: the verdict on the candidate shown, the
leaderboard of every candidate scored on the task, the metrics of its output kind and its failure groups,
the test calls side by side (disagreements first), latency and cost against the LLM's, the projected
saving, and the approval panel (apps.approvals). Engineers, owners and admins start an evaluation of another
candidate from the page, and cancel a running one."""

from typing import Any
from urllib.parse import urlencode
from uuid import UUID

from django.conf import settings
from django.http import HttpResponse
from django.urls import reverse
from django.views.decorators.http import require_GET

from apps.approvals import selectors as approvals
from apps.approvals.panel import panel_context
from apps.common.pages import render_page, wants_fragment
from apps.discovery.models import TaskCluster
from apps.discovery.selectors import task_cluster_get
from apps.discovery.texts import OUTPUT_KIND_LABELS
from apps.evaluation import selectors, services
from apps.evaluation.charts import Entry, leaderboard
from apps.evaluation.forms import EvaluateForm, ScoringForm
from apps.evaluation.models import Evaluation, TextMetric
from apps.evaluation.scoring.text import DEFAULT_THRESHOLDS
from apps.jobs.models import JobStatus
from apps.projects.pages import ProjectRequest, project_page

PER_PAGE = 10
FRAGMENTS = ("report", "viewer", "evaluation-jobs", "evaluate-panel", "scoring-panel")
TEMPLATE = "evaluation/report.html"
START = "manage_tasks"  # the role's ability that matches the API key's "discover" scope (POST /evaluations)
GROUPS_SHOWN = 12
CONFUSION_LABELS = 12

# The kind's metrics, in the order shown: (key, name, what it means).
METRICS: dict[str, list[tuple[str, str, str]]] = {
    "label": [
        ("accuracy", "Accuracy", "Calls answered with the LLM's label"),
        ("macro_f1", "Macro-F1", "Each label's F1, averaged: a rare label counts as much as a common one"),
    ],
    "json": [
        ("exact_match", "Exact match", "The same parsed values as the LLM's answer"),
        ("parse_rate", "Parses as JSON", "After removing code fences and text around it"),
        ("strict_parse_rate", "Parses as it stands", "Without any cleaning"),
        ("schema_valid_rate", "Valid for the schema", "The request's JSON schema, else the LLM's keys"),
        ("field_precision", "Field precision", "Of the fields it gave, the share that match the LLM's"),
        ("field_recall", "Field recall", "Of the LLM's fields, the share it gave too"),
        ("field_f1", "Field F1", "Precision and recall together"),
    ],
    "tool_calls": [
        ("exact_match", "Exact match", "The same calls with the same arguments"),
        ("function_name_accuracy", "Right function", "Calls to the function the LLM called"),
        ("argument_accuracy", "Right arguments", "Among calls to the right function"),
        ("no_call_accuracy", "Right to call nothing", "When the LLM made no call"),
        ("arguments_valid_rate", "Arguments valid", "For the tool's JSON schema"),
    ],
    "sql": [
        ("exact_match", "Same query", "After parsing and re-rendering: spacing, case and aliases do not count"),
        ("parse_rate", "Parses as SQL", "Queries the parser reads"),
    ],
    "text": [
        ("mean_similarity", "Mean similarity", "How close its answers are to the LLM's, 0 to 1"),
        ("mean_judge_score", "Mean judge score", "The judge's rubric score, 1 (not equivalent) to 5 (equivalent)"),
    ],
}
COUNTS = {
    "unparseable_references": "LLM queries that do not parse",
    "unscored_calls": "Calls not scored",
    "judge_unreadable": "Judge answers with no readable score",
}
TEXT_METRICS = {str(metric): str(label) for metric, label in TextMetric.choices}
NOT_PERCENT = ("mean_similarity", "mean_judge_score")
VERDICT_HEADLINES = {
    "ready": "Ready to take over from the LLM",
    "not_ready": "Not ready: it disagrees with the LLM too often",
    "inconclusive": "Not sure yet: more test calls are needed",
}
KIND_WORDS = {"endpoint": "Endpoint", "training_run": "Specialist", "base_model": "Base model"}


def _pick(evaluations: list[Evaluation], wanted: str, preferred: list[UUID]) -> Evaluation | None:
    """The candidate shown: the one asked for, else the one awaiting approval or approved, else the best
    finished one (highest low end of its interval), else the newest."""
    by_id = {str(e.id): e for e in evaluations}
    if wanted in by_id:
        return by_id[wanted]
    for uid in preferred:
        if str(uid) in by_id:
            return by_id[str(uid)]
    finished = _ranked([e for e in evaluations if e.status == JobStatus.SUCCEEDED])
    return finished[0] if finished else (evaluations[0] if evaluations else None)


def _ranked(evaluations: list[Evaluation]) -> list[Evaluation]:
    scored = [e for e in evaluations if e.agreement is not None]
    return sorted(scored, key=lambda e: (-(e.agreement_low or 0), -(e.agreement or 0), -e.created_at.timestamp()))


def _link(base: str, **params: Any) -> str:
    query = urlencode({k: v for k, v in params.items() if v not in (None, "")})
    return f"{base}?{query}" if query else base


def _leaderboard(evaluations: list[Evaluation], chosen: Evaluation | None, base: str) -> dict[str, Any]:
    ranked = _ranked([e for e in evaluations if e.status == JobStatus.SUCCEEDED])
    rows = []
    entries = []
    for evaluation in ranked:
        words = selectors.evaluation_candidate(evaluation)
        href = _link(base, candidate=evaluation.id)
        rows.append({"evaluation": evaluation, "candidate": words, "href": href, "kind": KIND_WORDS.get(words.kind)})
        entries.append(
            Entry(
                label=words.name,
                agreement=evaluation.agreement or 0.0,
                low=evaluation.agreement_low or 0.0,
                high=evaluation.agreement_high or 0.0,
                verdict=evaluation.verdict or "inconclusive",
                href=href,
                selected=chosen is not None and evaluation.id == chosen.id,
                note=f"{KIND_WORDS.get(words.kind, words.kind)} · {evaluation.test_calls:,} test calls",
            )
        )
    target = chosen.target if chosen is not None else (ranked[0].target if ranked else 0.95)
    unfinished = [
        {"evaluation": e, "candidate": selectors.evaluation_candidate(e)}
        for e in evaluations
        if e.status in (JobStatus.FAILED, JobStatus.CANCELLED)
    ]
    return {
        "rows": rows,
        "unfinished": unfinished,
        "chart": leaderboard(entries, target=target) if entries else None,
        "split_differs": len({e.test_hash for e in ranked}) > 1,
    }


def _text_metric(evaluation: Evaluation) -> str | None:
    """The text metric and threshold the evaluation was scored with, in words ("MiniLM embedding cosine,
    threshold 0.85"); None for other kinds."""
    metrics = evaluation.metrics or {}
    name = TEXT_METRICS.get(evaluation.text_metric or str(metrics.get("metric")))
    threshold = evaluation.text_threshold if evaluation.text_threshold is not None else metrics.get("threshold")
    if name is None:
        return None
    return f"{name}, threshold {threshold:g}" if threshold is not None else name


def _metrics(evaluation: Evaluation, cluster: TaskCluster) -> dict[str, Any]:
    metrics = evaluation.metrics or {}
    kind = "text" if evaluation.kind == "code" else evaluation.kind
    shown = []
    for key, name, meaning in METRICS.get(kind, []):
        value = metrics.get(key)
        if value is None:
            continue
        extra = ""
        if key == "mean_similarity" and metrics.get("mean_similarity_low") is not None:
            extra = f"{metrics['mean_similarity_low']:.2f} to {metrics['mean_similarity_high']:.2f}"
        shown.append({"name": name, "meaning": meaning, "value": value, "percent": key not in NOT_PERCENT,
                      "interval": extra})  # fmt: skip
    counts = [{"name": name, "value": metrics[key]} for key, name in COUNTS.items() if metrics.get(key)]
    context: dict[str, Any] = {
        "shown": shown,
        "counts": counts,
        "text_metric": _text_metric(evaluation),
    }
    if kind == "label":
        confusion: dict[str, dict[str, int]] = metrics.get("confusion") or {}
        order = [*cluster.labels, *sorted({out for row in confusion.values() for out in row} | set(confusion))]
        labels = [label for label in dict.fromkeys(str(lab).strip().lower() for lab in order) if label in confusion
                  or any(label in row for row in confusion.values())][:CONFUSION_LABELS]  # fmt: skip
        context["confusion"] = {
            "labels": labels,
            "rows": [
                {"label": ref, "cells": [(out, confusion.get(ref, {}).get(out, 0), ref == out) for out in labels]}
                for ref in labels
            ],
            "more": max(0, len(set(confusion) | {o for r in confusion.values() for o in r}) - len(labels)),
        }
        context["per_label"] = sorted((metrics.get("per_label_f1") or {}).items(), key=lambda kv: kv[1])
    return context


def _failure_groups(evaluation: Evaluation, base: str) -> dict[str, Any]:
    groups = (evaluation.metrics or {}).get("failure_groups") or []
    calls = evaluation.calls_done or evaluation.test_calls or 1
    biggest = max((count for _, count in groups), default=1)
    return {
        "groups": [
            {
                "name": name,
                "count": count,
                "share": count / calls,
                "width": round(100 * count / biggest),
                "href": _link(base, candidate=evaluation.id, show="disagree", group=name) + "#viewer",
            }
            for name, count in groups[:GROUPS_SHOWN]
        ],
        "more": max(0, len(groups) - GROUPS_SHOWN),
        "disagreements": evaluation.calls_done - evaluation.agreed,
    }


def _latency_cost(evaluation: Evaluation) -> dict[str, Any]:
    llm = (evaluation.metrics or {}).get("llm") or {}
    p50, llm_p50 = evaluation.latency_p50_ms, llm.get("latency_p50_ms")
    cost, llm_cost = evaluation.cost_per_1k_calls, evaluation.llm_cost_per_1k_calls
    return {
        "p50": p50,
        "p95": evaluation.latency_p95_ms,
        "llm_p50": llm_p50,
        "llm_p95": llm.get("latency_p95_ms"),
        "speedup": (llm_p50 / p50) if p50 and llm_p50 else None,
        "slowdown": (p50 / llm_p50) if p50 and llm_p50 else None,  # "62.5x slower" reads better than "0.0x"
        "cost": cost,
        "llm_cost": llm_cost,
        "cost_ratio": float(cost / llm_cost) if cost is not None and llm_cost else None,
        "basis": (evaluation.metrics or {}).get("cost_basis", ""),
        "tokens_mean": (evaluation.metrics or {}).get("output_tokens_mean"),
    }


def _viewer(request: ProjectRequest, evaluation: Evaluation, base: str) -> dict[str, Any]:
    show = "all" if request.GET.get("show") == "all" else "disagree"
    group = request.GET.get("group", "")[:300]
    page = selectors.evaluation_result_page(
        evaluation=evaluation,
        agree=None if show == "all" else False,
        group=group,
        page=request.GET.get("page"),
        per_page=PER_PAGE,
    )

    def at(**params: Any) -> str:
        return _link(base, candidate=evaluation.id, **params)

    return {
        "page": page,
        "show": show,
        "group": group,
        "links": {
            "disagree": at(show="disagree"),
            "all": at(show="all"),
            "clear_group": at(show=show),
            "previous": at(show=show, group=group, page=page.previous_page_number()) if page.has_previous() else "",
            "next": at(show=show, group=group, page=page.next_page_number()) if page.has_next() else "",
        },
    }


def _verdict(evaluation: Evaluation) -> dict[str, Any] | None:
    if evaluation.status != JobStatus.SUCCEEDED or evaluation.agreement is None:
        return None
    return {
        "headline": VERDICT_HEADLINES.get(evaluation.verdict, evaluation.get_verdict_display()),
        "code": evaluation.verdict,
        "disagreed": evaluation.calls_done - evaluation.agreed,
    }


def report_url(request: ProjectRequest, cluster: TaskCluster) -> str:
    return reverse("evaluation:report", kwargs={"slug": request.project.slug, "cluster_id": cluster.id})


def active_jobs(evaluations: list[Evaluation]) -> list[dict[str, Any]]:
    return [{"job": e, "candidate": selectors.evaluation_candidate(e)} for e in evaluations if not e.is_terminal]


def start_context(
    request: ProjectRequest,
    cluster: TaskCluster,
    evaluations: list[Evaluation],
    form: EvaluateForm | None = None,
    notice: str = "",
    duplicate: bool = False,
) -> dict[str, Any]:
    """The "Evaluate a candidate" panel: what can be evaluated on the task (for a role that may start an
    evaluation), the form (with the values sent and the errors, after a refused POST) and what was queued."""
    can_start = request.membership.can(START)
    return {
        "cluster": cluster,
        "report_url": report_url(request, cluster),
        "can_start": can_start,
        "offers": selectors.evaluation_offers(cluster=cluster, evaluations=evaluations) if can_start else None,
        "start_form": form or EvaluateForm(),
        "start_notice": notice,
        "start_duplicate": duplicate,
        "max_shots": services.MAX_SHOTS,
        "default_target": selectors.task_scoring_get(cluster=cluster).target,
    }


def scoring_context(
    request: ProjectRequest, cluster: TaskCluster, form: ScoringForm | None = None, notice: str = ""
) -> dict[str, Any]:
    """The "How this task is scored" panel: the settings in force (defaults filled in), the form for a role
    that may change them, the project's endpoints a judge can be chosen from."""
    scoring = selectors.task_scoring_get(cluster=cluster)
    can_change = request.membership.can(START)
    return {
        "cluster": cluster,
        "scoring": scoring,
        "can_score": can_change,
        "scoring_form": form,
        "scoring_notice": notice,
        "text_metrics": [
            {"value": str(value), "label": str(label), "default": DEFAULT_THRESHOLDS[str(value)]}
            for value, label in TextMetric.choices
        ],
        "judges": list(selectors.endpoint_list(project=request.project)) if can_change else [],
        "default_target_setting": settings.EVALUATION_TARGET,
    }


def page_context(
    request: ProjectRequest, cluster: TaskCluster, form: EvaluateForm | None = None, duplicate: bool = False
) -> dict[str, Any]:
    base = report_url(request, cluster)
    evaluations = selectors.task_evaluations(cluster=cluster)
    records = approvals.swap_records(cluster=cluster)
    preferred = [r.evaluation_id for r in reversed(approvals.swap_requests_pending(records=records))]
    in_force = approvals.swap_approval_in_force(records=records)
    if in_force is not None:
        preferred.append(in_force.evaluation_id)
    chosen = _pick(evaluations, request.GET.get("candidate", ""), preferred)
    finished = any(e.status == JobStatus.SUCCEEDED for e in evaluations)
    active = active_jobs(evaluations)
    context: dict[str, Any] = {
        **start_context(request, cluster, evaluations, form=form, duplicate=duplicate),
        **scoring_context(request, cluster),
        "cluster": cluster,
        "kind": OUTPUT_KIND_LABELS.get(cluster.output_kind, cluster.output_kind or "Not known yet"),
        "evaluations": evaluations,
        "active": active,
        "chosen": chosen,
        "board": _leaderboard(evaluations, chosen, base),
        **panel_context(membership=request.membership, cluster=cluster, evaluation=chosen, evaluated=finished),
    }
    if chosen is not None:
        context["candidate"] = selectors.evaluation_candidate(chosen)
        context["verdict"] = _verdict(chosen)
        if chosen.status == JobStatus.SUCCEEDED:
            calls = selectors.task_calls_recent(cluster=cluster)
            context |= {
                "metrics": _metrics(chosen, cluster),
                "failures": _failure_groups(chosen, base),
                "speed": _latency_cost(chosen),
                "saving": selectors.projected_saving(evaluation=chosen, calls=calls),
                "viewer": _viewer(request, chosen, base),
            }
    return context


@require_GET
@project_page("view")
def report(request: ProjectRequest, cluster_id: UUID) -> HttpResponse:
    """The page; with htmx, the fragment its target names: the report under the heading (another candidate
    chosen), the call viewer (a page, a filter), or the running evaluations (polled every 2 s)."""
    cluster = task_cluster_get(project=request.project, cluster_id=cluster_id)
    context = page_context(request, cluster)
    fragment = "report"
    if wants_fragment(request):
        target = request.htmx.target or ""
        fragment = target if target in FRAGMENTS else "report"
        if fragment == "evaluation-jobs" and not context["active"]:
            return refresh_page()
    return render_page(request, TEMPLATE, context, fragment=fragment)


def refresh_page() -> HttpResponse:
    """The evaluations the jobs panel was following have ended: reload the page to show their results."""
    response = HttpResponse()
    response["HX-Refresh"] = "true"
    return response
