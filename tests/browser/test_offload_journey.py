"""The product owner's weekly look, in real Chromium: after replay_traffic sent the sample through the
gateway with a live specialist on the sentiment task, the project's home is the offload page, showing the
share of calls the specialist answered and the money saved; from its task table the owner opens the task's
deployment and rolls it back to the LLM, and the page says so."""

import re
import threading
from io import StringIO
from typing import Any

import pytest
import redis
from django.conf import settings
from django.core.management import call_command
from django.db import connections

from apps.approvals.services import Actor, swap_approval_decide
from apps.calls.models import Call
from apps.discovery.callsite import call_site
from apps.projects.models import Role
from apps.projects.services import membership_set, project_create
from apps.serving.gateway import log
from apps.serving.gateway.state import cache
from apps.serving.models import Deployment
from apps.serving.services import deployment_create, deployment_health_record
from apps.serving.tasks import gateway_log_drain_task
from tests.approvals.factories import endpoint, evaluated
from tests.evaluation.fake_openai import FakeOpenAI, completion
from tests.serving.gateway import GatewayServer, logged, until
from tests.specialists.selection_helpers import make_task, stored

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_owner_sees_the_share_and_saving_after_replay_and_rolls_back(
    live_server: Any, page: Any, make_user: Any, sample_records: list[dict[str, Any]]
) -> None:
    project = project_create(slug="acme", name="Acme agents")
    owner = make_user("olivia")
    membership_set(project=project, user=owner, role=Role.OWNER)
    reviews = [r for r in sample_records if r["task"] == "sentiment_classification"][:40]
    task = make_task(project, calls=stored(project, reviews), name="Review sentiment")
    for call in Call.objects.filter(task_cluster=task):
        Call.objects.filter(id=call.id).update(call_site=call_site(call.request))
    redis.Redis.from_url(settings.REDIS_URL).delete(log.STREAM)
    cache().invalidate()

    with FakeOpenAI(lambda body: completion({"content": "positive"})) as specialist:
        candidate = endpoint(project, name="sentiment-small")
        candidate.base_url = specialist.base_url
        candidate.save()
        evaluation = evaluated(task, candidate, wrong=1)
        approval = swap_approval_decide(
            evaluation=evaluation, actor=Actor(user=owner), decision="approve", comment="Good.", rollout=None
        )
        deployment = deployment_create(approval=approval, actor=Actor(user=owner), mode="live", canary_percent=100)
        deployment_health_record(deployment=deployment, healthy=True)

        gateway = GatewayServer().start()
        out = StringIO()

        # In a thread: the command runs its own event loop, and Playwright's runs in this one.
        def run() -> None:
            try:
                call_command(
                    "replay_traffic",
                    project="acme",
                    gateway=gateway.url,
                    calls=160,
                    rate=400,
                    standin_port=0,
                    stdout=out,
                )
            finally:
                connections.close_all()

        replay = threading.Thread(target=run)
        try:
            replay.start()
            replay.join(timeout=120)
        finally:
            gateway.stop()
    routes = re.search(r"routes: (.*)", out.getvalue())
    assert routes is not None, out.getvalue()
    served = int(re.search(r"specialist (\d+)", routes.group(1)).group(1))  # type: ignore[union-attr]
    assert served > 0, out.getvalue()
    until(lambda: logged() == 160)
    assert gateway_log_drain_task() == 160

    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", "olivia")
    page.fill("input[name=password]", "pw-for-tests")
    page.click("button[type=submit]")
    page.goto(f"{live_server.url}/p/acme/")
    page.wait_for_url("**/p/acme/offload/")
    figures = page.inner_text("main")
    assert f"{served} specialist" in figures and f"{served / 160:.1%}" in figures.split("Offloaded", 1)[1][:20]
    assert "$0.00\n" not in figures.split("Saved", 1)[1][:40]  # a saving, not zero
    assert page.locator("svg").count() >= 1  # the calls-by-route chart

    # From the task table to the task's deployment, and back to the LLM.
    page.click("text=Review sentiment")
    page.wait_for_url("**/deployment/")
    page.fill("#rollback-comment", "Checking the saving holds without it.")
    page.on("dialog", lambda dialog: dialog.accept())
    page.click("form.deployment-rollback button[type=submit]")
    page.wait_for_selector("text=Rolled back: the task's calls go to the LLM.")
    assert Deployment.objects.get(id=deployment.id).status == "stopped"
    assert "Checking the saving holds without it." in page.inner_text("#deployment-panel")
