"""How a task's candidates are scored, set from its report (the "How this task is scored" panel): the agreement
target, and for free text the metric, its threshold and the judge, with the service the API calls."""

from uuid import UUID

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from apps.common.errors import DomainError
from apps.common.pages import render_page, wants_fragment
from apps.discovery.selectors import task_cluster_get
from apps.evaluation import selectors, services
from apps.evaluation.forms import ScoringForm
from apps.evaluation.models import TextMetric
from apps.evaluation.views.report import START, TEMPLATE, page_context, report_url, scoring_context
from apps.projects.pages import ProjectRequest, project_page

FORM_FIELDS = ("target", "text_metric", "text_threshold", "judge_endpoint")


@require_POST
@project_page(START)
def update(request: ProjectRequest, cluster_id: UUID) -> HttpResponse:
    """Set the task's scoring from now on (evaluations already made keep theirs). A refused value is shown by
    its field with the values sent kept; with htmx, the panel alone, else the page."""
    cluster = task_cluster_get(project=request.project, cluster_id=cluster_id)
    form = ScoringForm(request.POST)
    status = 400
    if form.is_valid():
        data = form.cleaned_data
        try:
            judge = None
            if data["judge_endpoint"] is not None:
                judge = selectors.endpoint_get(
                    project=request.project, endpoint_id=data["judge_endpoint"], field="judge_endpoint"
                )
            services.task_scoring_set(
                cluster=cluster,
                target=data["target"],
                text_metric=data["text_metric"] or TextMetric.COSINE,
                text_threshold=data["text_threshold"],
                judge_endpoint=judge,
                updated_by=request.user,
            )
        except DomainError as exc:
            form.add_error(exc.field if exc.field in FORM_FIELDS else None, exc.message)
            status = exc.status if exc.status in (404, 422) else 400
        else:
            notice = "Saved: evaluations started from now on are scored this way; those made already keep theirs."
            if not wants_fragment(request):
                messages.success(request, notice)
                return redirect(f"{report_url(request, cluster)}#scoring-panel")
            context = scoring_context(request, cluster, notice=notice)
            return render_page(request, TEMPLATE, context, fragment="scoring-panel")
    if wants_fragment(request):
        context = scoring_context(request, cluster, form=form)
        return render_page(request, TEMPLATE, context, fragment="scoring-panel", status=status)
    context = page_context(request, cluster) | scoring_context(request, cluster, form=form)
    return render_page(request, TEMPLATE, context, fragment="report", status=status)
