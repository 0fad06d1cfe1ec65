"""A product owner's curation journey in real Chromium: the report over the sample, the policy's live
preview, a saved change, and a re-scan run by a real Celery worker."""

import re
from typing import Any

import pytest
from django.db import connection

from apps.calls.models import Call
from apps.calls.services import calls_import_file
from apps.projects.models import Role
from apps.projects.services import membership_set, project_create
from tests.conftest import SAMPLE_PATH

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_report_live_preview_policy_change_and_rescan(live_server: Any, worker: Any, page: Any, make_user: Any) -> None:
    project = project_create(slug="acme", name="Acme support")
    owner = make_user("olive")
    membership_set(project=project, user=owner, role=Role.OWNER)
    calls_import_file(project=project, path=SAMPLE_PATH)
    with connection.cursor() as cursor:  # what is stored, not what a page shows
        cursor.execute(
            r"SELECT count(*) FROM calls_call WHERE project_id = %s"
            r" AND request::text ~ '[A-Za-z0-9._%%+-]+@[A-Za-z0-9-]+\.[A-Za-z.]+'",
            [project.id],
        )
        assert cursor.fetchone()[0] == 0

    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", "olive")
    page.fill("input[name=password]", "pw-for-tests")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")

    page.goto(f"{live_server.url}/p/acme/curation/")
    stats = page.inner_text(".stats")
    affected = Call.objects.filter(project=project).exclude(pii_counts={}).count()
    assert affected >= 150 and f"{affected:,}" in stats, stats
    assert page.locator("svg.chart-columns").count() == 1
    assert "EMAIL_ADDRESS" in page.inner_text("main")

    page.click("text=Edit the policy")
    page.wait_for_url("**/curation/policy/")
    page.fill("input[name='custom-0-entity']", "EMPLOYEE_ID")
    page.fill("input[name='custom-0-pattern']", r"EMP-\d{6}")
    page.fill("textarea[name=preview_text]", "Badge EMP-123456 belongs to ann.lee@example.com")
    # The live preview (htmx, unsaved policy) highlights both findings.
    page.wait_for_function("() => document.querySelectorAll('#preview mark.pii').length === 2")
    preview = page.inner_text("#preview")
    assert "EMPLOYEE_ID" in preview and "<EMAIL_ADDRESS>" in preview, preview

    page.click("button[value=save]")
    page.wait_for_url("**/curation/")
    assert "Policy saved (version 2)" in page.inner_text("main")
    page.click("#rescan-panel button[type=submit]")
    page.wait_for_url(re.compile(r".*/curation/rescans/[0-9a-f-]+/$"))
    page.wait_for_selector("text=Succeeded", timeout=90_000)
    assert "3,000 of 3,000 calls" in page.inner_text("#job-status")
    assert not Call.objects.filter(project=project, curation_version__lt=2).exists()
    page.click("text=Back to the report")
    assert "Every stored call was curated under the current policy (version 2)" in page.inner_text("main")
