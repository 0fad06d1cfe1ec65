from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

import pytest
from django.contrib.auth.models import User
from django.test import Client

from apps.calls.ingest import Batch
from apps.calls.models import Call
from apps.calls.services import calls_ingest
from apps.discovery.models import TaskCluster
from apps.projects.models import Project
from tests.conftest import make_call

URL = "/p/acme/calls/"


def ingest(project: Project, *records: dict[str, Any]) -> None:
    result = calls_ingest(project=project, batch=Batch(records=list(enumerate(records))))
    assert result.rejected_count == 0, result.rejected


def ask(text: str, **fields: Any) -> dict[str, Any]:
    return make_call(
        request={"model": fields.pop("model", "gpt-4o"), "messages": [{"role": "user", "content": text}]}, **fields
    )


@pytest.fixture
def viewer_client(login: Callable[[User], Client], viewer: User) -> Client:
    return login(viewer)


def test_lists_calls_newest_first_with_links_to_each(viewer_client: Client, project: Project) -> None:
    ingest(
        project,
        ask("Where is my parcel?", timestamp="2025-03-01T10:00:00Z"),
        ask("Cancel my order", timestamp="2025-03-02T10:00:00Z", agent="orders-bot", workload="cancel"),
    )
    response = viewer_client.get(URL)
    html = response.content.decode()
    assert response.status_code == 200 and "<html" in html
    assert html.index("Cancel my order") < html.index("Where is my parcel?")
    newest = Call.objects.get(project=project, preview="Cancel my order")
    assert f'href="/p/acme/calls/{newest.id}/"' in html
    assert "orders-bot" in html and "cancel" in html and "1,000 / 100" in html and "420 ms" in html
    # the filter menus offer the agents seen in the project
    assert "<option>orders-bot</option>" in html and "<option>support-bot</option>" in html


def test_another_projects_calls_are_not_listed(viewer_client: Client, other_project: Project) -> None:
    ingest(other_project, ask("globex private question"))
    html = viewer_client.get(URL).content.decode()
    assert "globex private question" not in html and "No calls yet" in html


@pytest.mark.parametrize(
    ("params", "shown", "hidden"),
    [
        ({"agent": "orders-bot"}, "Cancel my order", "Where is my parcel?"),
        ({"model": "gpt-4o-mini"}, "Where is my parcel?", "Cancel my order"),
        ({"workload": "cancel"}, "Cancel my order", "Where is my parcel?"),
        ({"status": "error"}, "It failed", "Cancel my order"),
        ({"since": "2025-03-02"}, "Cancel my order", "Where is my parcel?"),
        ({"until": "2025-03-01"}, "Where is my parcel?", "Cancel my order"),  # the whole "to" day is included
    ],
)
def test_filters_narrow_the_list(
    viewer_client: Client, project: Project, params: dict[str, str], shown: str, hidden: str
) -> None:
    ingest(
        project,
        ask("Where is my parcel?", model="gpt-4o-mini", timestamp="2025-03-01T23:30:00Z"),
        ask("Cancel my order", timestamp="2025-03-02T10:00:00Z", agent="orders-bot", workload="cancel"),
        ask("It failed", timestamp="2025-03-01T09:00:00Z", status="error", error="boom", response=None),
    )
    html = viewer_client.get(URL, params).content.decode()
    assert shown in html and hidden not in html


def test_no_match_says_so_and_offers_to_clear(viewer_client: Client, project: Project) -> None:
    ingest(project, ask("Where is my parcel?"))
    html = viewer_client.get(URL, {"agent": "nobody"}).content.decode()
    assert "No calls match these filters" in html
    assert "<option selected>nobody</option>" in html  # a shared link's value stays visible


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"since": "yesterday"}, "“From” must be a date such as 2025-01-31."),
        ({"status": "maybe"}, "Status is either “ok” or “error”."),
        ({"since": "2025-03-05", "until": "2025-03-01"}, "“From” is after “To”; swap the dates."),
        ({"cursor": "not-a-cursor"}, "That “Load more” link is not valid any more"),
        ({"cluster": "T3"}, "Task must be one of the project&#x27;s tasks"),
        # well-formed base64, but the id in it is not a UUID
        ({"cursor": "MjAyNS0wMS0wMVQwMDowMDowMCswMDowMHxub3QtYS11dWlk"}, "That “Load more” link is not valid any more"),
    ],
)
def test_bad_filter_values_are_400_with_a_message(
    viewer_client: Client, project: Project, params: dict[str, str], message: str
) -> None:
    ingest(project, ask("Where is my parcel?"))
    response = viewer_client.get(URL, params)
    assert response.status_code == 400
    assert message in response.content.decode()


def test_load_more_pages_with_a_cursor(viewer_client: Client, project: Project) -> None:
    ingest(project, *(ask(f"question number {i:02d}", timestamp=f"2025-03-01T10:{i:02d}:00Z") for i in range(55)))
    first = viewer_client.get(URL, {"agent": "support-bot"}).content.decode()
    assert "question number 54" in first and "question number 05" in first and "question number 04" not in first
    assert 'id="load-more"' in first
    cursor = unquote(first.split('hx-get="/p/acme/calls/?agent=support-bot&amp;cursor=')[1].split('"')[0])

    # htmx: only the next rows, which replace the "Load more" row; the last page has none
    more = viewer_client.get(
        URL, {"agent": "support-bot", "cursor": cursor}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="load-more"
    )
    rows = more.content.decode()
    assert more.status_code == 200 and rows.lstrip().startswith("<tr")
    assert "question number 04" in rows and "question number 00" in rows and "question number 05" not in rows
    assert 'id="load-more"' not in rows and "<table" not in rows

    # without JavaScript the same link is a page of its own
    page = viewer_client.get(URL, {"agent": "support-bot", "cursor": cursor}).content.decode()
    assert "<html" in page and "question number 04" in page and "Showing older calls" in page


def test_htmx_filtering_gets_only_the_results_fragment(viewer_client: Client, project: Project) -> None:
    ingest(project, ask("Where is my parcel?"))
    response = viewer_client.get(URL, {"status": "ok"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="call-results")
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="call-results"') and "<html" not in html
    assert "Where is my parcel?" in html


def test_anonymous_is_sent_to_log_in(client: Client, project: Project) -> None:
    response = client.get(URL)
    assert response.status_code == 302 and response["Location"].startswith("/login/?next=/p/acme/calls/")


def test_an_outsider_gets_404(login: Callable[[User], Client], outsider: User) -> None:
    assert login(outsider).get(URL).status_code == 404


def test_post_is_405(viewer_client: Client) -> None:
    assert viewer_client.post(URL).status_code == 405


def test_the_task_filter_lists_one_tasks_calls_or_the_calls_in_none(viewer_client: Client, project: Project) -> None:
    ingest(project, ask("Refund my order"), ask("Play some jazz"), ask("Weather at sea?"))
    task = TaskCluster.objects.create(project=project, number=1, name="Refunds")
    music = TaskCluster.objects.create(project=project, number=2, name="Music")
    Call.objects.filter(preview="Refund my order").update(task_cluster=task)
    Call.objects.filter(preview="Play some jazz").update(task_cluster=music)

    page = viewer_client.get(URL, {"cluster": str(task.id)}).content.decode()
    assert "Refund my order" in page and "Play some jazz" not in page and "Weather at sea?" not in page
    assert f'<option value="{task.id}" selected>T1 Refunds</option>' in page

    unassigned = viewer_client.get(URL, {"cluster": "none"}).content.decode()
    assert "Weather at sea?" in unassigned and "Refund my order" not in unassigned
