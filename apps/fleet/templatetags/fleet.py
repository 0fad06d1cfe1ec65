from django import template
from django.contrib.auth.models import AnonymousUser, User

from apps.fleet import selectors
from apps.jobs.models import Job, JobStatus
from apps.jobs.registry import kind_for

register = template.Library()


@register.simple_tag
def may_manage_workers(user: User | AnonymousUser) -> bool:
    """`{% may_manage_workers user as can_manage_workers %}`: whether to link the GPU workers page."""
    return selectors.user_may_manage_workers(user=user)


@register.filter
def job_message(job: Job) -> str:
    """`{{ job|job_message }}`: what the job does now; while queued with no worker able to take it, why."""
    if job.status == JobStatus.QUEUED:
        queue = kind_for(type(job)).options(job).get("queue", "cpu")
        if note := selectors.queue_wait_note(queue=queue):
            return note
    return job.message
