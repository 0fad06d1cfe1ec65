"""The project's jobs page: every long job of the project (uploads, re-scans, discovery, datasets, training,
evaluations), its progress and the worker that runs it. The fleet itself is the installation's (staff)."""

from django.http import HttpResponse
from django.urls import reverse
from django.views.decorators.http import require_GET

from apps.common.pages import render_page
from apps.jobs.selectors import ProjectJob, project_job_list
from apps.projects.pages import ProjectRequest, project_page

# Each kind's own page, by job model: (URL name, what the URL takes after the project's slug).
PAGES = {
    "importjob": ("calls:upload_detail", lambda job: job.id, "upload"),
    "rescanjob": ("curation:rescan_detail", lambda job: job.id, "view"),
    "discoveryrun": ("discovery:run", lambda job: job.id, "view"),
    "evaluation": ("evaluation:report", lambda job: job.cluster_id, "view"),
    "trainingdataset": ("specialists:dataset", lambda job: job.id, "view"),
    "trainingrun": ("specialists:training_run", lambda job: job.id, "view"),
}


def _page_of(request: ProjectRequest, item: ProjectJob) -> str:
    page = PAGES.get(item.job._meta.model_name or "")
    if page is None or not request.membership.can(page[2]):
        return ""
    name, target, _ = page
    return reverse(name, args=[request.project.slug, target(item.job)])


@require_GET
@project_page("view")
def job_list(request: ProjectRequest) -> HttpResponse:
    jobs = project_job_list(project=request.project)
    rows = [{"item": item, "href": _page_of(request, item)} for item in jobs]
    context = {"rows": rows, "any_running": any(not item.job.is_terminal for item in jobs)}
    return render_page(request, "jobs/job_list.html", context, fragment="jobs-table")
