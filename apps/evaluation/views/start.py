"""Starting an evaluation from the task's report (the "Evaluate a candidate" panel) and cancelling one (the
"Being evaluated" panel), with the services the API calls."""

from typing import Any
from uuid import UUID

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect
from django.template.loader import render_to_string
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_POST

from apps.common.errors import DomainError, NotFound
from apps.common.pages import render_page, wants_fragment
from apps.discovery.models import TaskCluster
from apps.discovery.selectors import task_cluster_get
from apps.evaluation import selectors, services
from apps.evaluation.forms import EvaluateForm
from apps.evaluation.views.report import (
    START,
    TEMPLATE,
    active_jobs,
    page_context,
    refresh_page,
    report_url,
    start_context,
)
from apps.jobs.models import JobStatus
from apps.projects.pages import ProjectRequest, project_page
from apps.specialists import selectors as specialists

SWAPPED = (400, 409, 413, 422)  # the error statuses htmx swaps in (base.html)


def _chosen(request: ProjectRequest, form: EvaluateForm) -> dict[str, Any]:
    """The candidate's objects, each looked up in the project as the API does; the service decides which it
    accepts. A model picked in the list without its option ticked is taken as the choice."""
    data = form.cleaned_data
    choice = data["candidate"] or ("base_model" if data["base_model"] else "")
    data["candidate"] = choice
    kind, _, ref = choice.partition(":")
    if kind == "training_run":
        try:
            return {"training_run": specialists.training_run_get(project=request.project, run_id=ref)}
        except NotFound as exc:
            raise NotFound(exc.message, field="candidate") from exc
    if kind == "endpoint":
        return {"endpoint": selectors.endpoint_get(project=request.project, endpoint_id=ref, field="candidate")}
    if kind == "base_model":
        if not data["base_model"]:
            raise DomainError("Choose a model from the catalog.", field="candidate.base_model", status=422)
        try:
            model = specialists.catalog_model_get(ref=data["base_model"])
        except NotFound as exc:
            raise DomainError(exc.message, field="candidate.base_model", status=422) from exc
        return {"base_model": model, "shots": 0 if data["shots"] is None else data["shots"]}
    raise DomainError("Choose a candidate to evaluate.", field="candidate", status=422)


def _check_duplicate(cluster: TaskCluster, form: EvaluateForm, found: dict[str, Any]) -> None:
    """Refuse, unless "Evaluate it again" is ticked, a candidate being evaluated or evaluated already on the
    task (a failed or cancelled evaluation may be run again at once)."""
    if form.cleaned_data["again"]:
        return
    if (model := found.get("base_model")) is not None:
        key = f"base_model:{model.id}:{found['shots']}"
    elif (run := found.get("training_run")) is not None:
        key = f"training_run:{run.id}"
    else:
        key = f"endpoint:{found['endpoint'].id}"
    evaluations = selectors.task_evaluations(cluster=cluster)
    latest = next((e for e in evaluations if selectors.candidate_key(e) == key), None)
    if latest is None or latest.status in (JobStatus.FAILED, JobStatus.CANCELLED):
        return
    name = selectors.evaluation_candidate(latest).name
    if latest.status == JobStatus.SUCCEEDED:
        what = "was evaluated on this task already"
        if latest.agreement is not None:
            what += f": {latest.agreement * 100:.1f}% agreement"
    else:
        what = f"is being evaluated on this task ({latest.get_status_display().lower()}, {latest.percent}%)"
    raise DomainError(
        f"{name} {what}. Tick “Evaluate it again” to queue another evaluation of it.",
        field="candidate",
        code="duplicate",
        status=409,
    )


@require_POST
@project_page(START)
def evaluate(request: ProjectRequest, cluster_id: UUID) -> HttpResponse:
    """Queue the evaluation of the candidate chosen with the service the API calls. A refused one shows
    the form again, the service's message by the field it names and the values sent kept; with htmx, the
    panel alone, else the page."""
    cluster = task_cluster_get(project=request.project, cluster_id=cluster_id)
    form = EvaluateForm(request.POST)
    status, duplicate = 400, False
    if form.is_valid():
        try:
            found = _chosen(request, form)
            _check_duplicate(cluster, form, found)
            evaluation = services.evaluation_create(
                cluster=cluster, target=form.cleaned_data["target"], created_by=request.user, **found
            )
        except DomainError as exc:
            form.add_error(form.error_field(exc.field), exc.message)
            status = exc.status if exc.status in SWAPPED else 400
            duplicate = exc.code == "duplicate"
        else:
            name = selectors.evaluation_candidate(evaluation).name
            notice = f"{name} is queued: {evaluation.message.lower()}. Its progress shows at the top of the page."
            if not wants_fragment(request):
                messages.success(request, notice)
                return redirect(f"{report_url(request, cluster)}#evaluation-jobs")
            evaluations = selectors.task_evaluations(cluster=cluster)
            context = start_context(request, cluster, evaluations, notice=notice) | {"active": active_jobs(evaluations)}
            panel = render_to_string(f"{TEMPLATE}#evaluate-panel", context, request=request)
            jobs = render_to_string(f"{TEMPLATE}#evaluation-jobs", context | {"oob": True}, request=request)
            response = HttpResponse(panel + jobs)
            patch_vary_headers(response, ("HX-Request",))
            return response
    if wants_fragment(request):
        context = start_context(
            request, cluster, selectors.task_evaluations(cluster=cluster), form=form, duplicate=duplicate
        )
        return render_page(request, TEMPLATE, context, fragment="evaluate-panel", status=status)
    context = page_context(request, cluster, form=form, duplicate=duplicate)
    return render_page(request, TEMPLATE, context, fragment="report", status=status)


@require_POST
@project_page(START)
def cancel(request: ProjectRequest, cluster_id: UUID, evaluation_id: UUID) -> HttpResponse:
    """Cancel an evaluation of the task: a queued one at once, a running one after the calls in flight."""
    cluster = task_cluster_get(project=request.project, cluster_id=cluster_id)
    evaluation = selectors.evaluation_get(project=request.project, evaluation_id=evaluation_id)
    if evaluation.cluster_id != cluster.id:
        raise NotFound("No such evaluation of this task")
    if not evaluation.is_terminal:
        evaluation = services.evaluation_cancel(evaluation=evaluation)
    name = selectors.evaluation_candidate(evaluation).name
    if not wants_fragment(request):
        done = "is cancelled" if evaluation.status == JobStatus.CANCELLED else "stops after the calls in flight"
        if evaluation.is_terminal and evaluation.status != JobStatus.CANCELLED:
            done = f"had ended already ({evaluation.get_status_display().lower()})"
        messages.success(request, f"The evaluation of {name} {done}.")
        return redirect(report_url(request, cluster))
    evaluations = selectors.task_evaluations(cluster=cluster)
    active = active_jobs(evaluations)
    if not active:
        return refresh_page()
    context = start_context(request, cluster, evaluations) | {"active": active}
    return render_page(request, TEMPLATE, context, fragment="evaluation-jobs")
