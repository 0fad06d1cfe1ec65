"""Swap approval pages: the decisions recorded from a task's evaluation report (the approval panel) and
the project's audit of every decision."""

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET, require_POST

from apps.approvals import selectors, services
from apps.approvals.forms import DecisionForm
from apps.approvals.models import Decision, SwapApproval
from apps.approvals.panel import panel_context
from apps.common import errors
from apps.common.pages import render_page, wants_fragment
from apps.evaluation import selectors as evaluation_selectors
from apps.evaluation.models import Evaluation
from apps.jobs.models import JobStatus
from apps.projects.pages import ProjectRequest, project_page

AUDIT_PAGE = 50
DONE = {
    Decision.REQUEST: "Approval requested: the owners see it on this page",
    Decision.APPROVE: "Approved",
    Decision.REJECT: "Rejected",
    Decision.REVOKE: "Approval revoked: the task goes back to the LLM",
}


def _report_url(request: ProjectRequest, evaluation: Evaluation) -> str:
    url = reverse("evaluation:report", kwargs={"slug": request.project.slug, "cluster_id": evaluation.cluster_id})
    return f"{url}?candidate={evaluation.id}"


def _panel(
    request: ProjectRequest, evaluation: Evaluation, form: DecisionForm | None, *, status: int = 200, notice: str = ""
) -> HttpResponse:
    """The panel alone (htmx), or a page holding it (a form sent without JavaScript that needs fixing)."""
    evaluated = evaluation_selectors.task_evaluations(cluster=evaluation.cluster)
    context = panel_context(
        membership=request.membership,
        cluster=evaluation.cluster,
        evaluation=evaluation,
        evaluated=any(e.status == JobStatus.SUCCEEDED for e in evaluated),
        form=form,
        notice=notice,
    )
    context["report_url"] = _report_url(request, evaluation)
    template = "approvals/_panel.html" if wants_fragment(request) else "approvals/decide.html"
    response = render(request, template, context, status=status)
    patch_vary_headers(response, ("HX-Request",))
    return response


@require_POST
@project_page("view")
def decide(request: ProjectRequest) -> HttpResponse:
    """Record the decision of the button pressed. A role that may not take it is a 403; a decision the
    task's state refuses, or a missing comment or reason, shows the panel again with the message."""
    form = DecisionForm(request.POST)
    evaluation_id = request.POST.get("evaluation")
    evaluation = evaluation_selectors.evaluation_get(project=request.project, evaluation_id=evaluation_id)
    if not form.is_valid():
        return _panel(request, evaluation, form, status=400)
    decision = form.cleaned_data["decision"]
    try:
        record = services.swap_approval_record(
            evaluation=evaluation,
            actor=services.Actor(user=request.user),
            decision=decision,
            comment=form.cleaned_data["comment"],
            reason_not_ready=form.cleaned_data["reason_not_ready"],
            rollout=form.rollout() if decision in (Decision.REQUEST, Decision.APPROVE) else None,
        )
    except (errors.NotFound, errors.PermissionDenied):
        raise
    except errors.DomainError as exc:
        form.add_error(form.visible_field(exc.field) if decision != Decision.REVOKE else None, exc.message)
        return _panel(request, evaluation, form, status=exc.status)
    notice = f"{DONE[Decision(record.decision)]}."
    if wants_fragment(request):
        return _panel(request, evaluation, None, notice=notice)
    messages.success(request, notice)
    return redirect(_report_url(request, evaluation))


@require_GET
@project_page("view")
def audit(request: ProjectRequest) -> HttpResponse:
    """Every decision in the project, newest first; ?decision= keeps one kind."""
    decision = request.GET.get("decision", "")
    decision = decision if decision in Decision.values else ""
    records = selectors.swap_approval_list(project=request.project, decision=decision or None)
    page = Paginator(records, AUDIT_PAGE).get_page(request.GET.get("page"))
    rows: list[SwapApproval] = list(page.object_list)
    context = {
        "page": page,
        "rows": rows,
        "decision": decision,
        "decisions": Decision.choices,
        "total": page.paginator.count,
    }
    return render_page(request, "approvals/audit.html", context, fragment="audit-table")
