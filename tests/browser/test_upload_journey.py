"""A person's first journey in real Chromium: log in, upload a JSONL file, watch the job finish
in a real Celery worker, open a call."""

from pathlib import Path
from typing import Any

import orjson
import pytest

from apps.calls.models import Call
from apps.projects.models import Role
from apps.projects.services import membership_set, project_create
from tests.conftest import SAMPLE_PATH

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_log_in_upload_watch_the_job_and_open_a_call(
    live_server: Any, worker: Any, page: Any, make_user: Any, tmp_path: Path
) -> None:
    project = project_create(slug="acme", name="Acme support")
    user = make_user("pat")
    membership_set(project=project, user=user, role=Role.ENGINEER)
    records = [orjson.loads(line) for line in SAMPLE_PATH.read_bytes().splitlines()[:40]]
    upload = tmp_path / "calls.jsonl"
    upload.write_bytes(b"\n".join([*(orjson.dumps(r) for r in records), b"{this line is broken"]) + b"\n")

    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", "pat")
    page.fill("input[name=password]", "pw-for-tests")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    page.click("text=Acme support")

    page.goto(f"{live_server.url}/p/acme/uploads/")
    page.set_input_files("input[type=file]", str(upload))
    page.click("form[enctype='multipart/form-data'] button[type=submit]")
    page.wait_for_url("**/uploads/*/")
    # The status fragment polls until the worker finishes.
    page.wait_for_selector("text=Succeeded", timeout=90_000)
    report = page.inner_text("main")
    assert "40 calls stored" in report or "40 stored" in report, report
    assert "not valid JSON" in report, report

    page.goto(f"{live_server.url}/p/acme/calls/")
    assert page.locator("table tbody tr").count() == 40
    page.click("table tbody tr >> nth=0 >> a")
    page.wait_for_url("**/calls/*/")
    call = Call.objects.get(id=page.url.rstrip("/").rsplit("/", 1)[1])
    turns = page.locator("article.turn")
    assert turns.count() == len(call.request["messages"]) + 1  # every request turn, then the response
    assert turns.nth(0).inner_text().lower().startswith("system")
    system_prompt = call.request["messages"][0]["content"]
    assert system_prompt.split("\n")[0] in turns.nth(0).inner_text()
    response = page.locator("#response").inner_text()
    answer = call.response["content"] or call.response["tool_calls"][0]["function"]["name"]
    assert answer.split("\n")[0][:60] in response
