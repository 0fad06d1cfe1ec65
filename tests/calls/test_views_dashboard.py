from collections.abc import Callable

from django.contrib.auth.models import User
from django.test import Client

from apps.calls.ingest import Batch
from apps.calls.services import calls_ingest
from apps.projects.models import Project
from tests.conftest import make_call

URL = "/p/acme/"


def ingest(project: Project, *records: dict) -> None:
    result = calls_ingest(project=project, batch=Batch(records=list(enumerate(records))))
    assert result.rejected_count == 0, result.rejected


def test_shows_totals_and_charts_of_the_projects_calls(
    login: Callable[[User], Client], viewer: User, project: Project
) -> None:
    ingest(
        project,
        make_call(agent="support-bot", timestamp="2025-03-01T10:00:00Z"),
        make_call(agent="support-bot", timestamp="2025-03-04T10:00:00Z"),
        make_call(
            agent="billing-bot", timestamp="2025-03-04T11:00:00Z", status="error", error="timeout", response=None
        ),
    )
    response = login(viewer).get(URL)
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" in html and 'id="dashboard-body"' in html
    # totals: 3 calls, 3,000 prompt tokens, one error in three
    assert '<div class="stat-value">3</div>' in html
    assert "3k" in html and "33.3%" in html
    # the calls-per-day chart, with one bar per day and tooltips
    assert "Calls per day" in html and "<svg" in html
    assert "Tue Mar 4: 2 calls, 1 error, $0.007" in html
    assert "Mon Mar 3: 0 calls" in html  # the gap is drawn as an empty day
    # breakdowns by agent and model link to the filtered call log
    assert "support-bot: 2 calls, 2.2k tokens" in html and "billing-bot: 1 call," in html
    assert "/p/acme/calls/?agent=support-bot" in html
    assert "gpt-4o" in html


def test_only_counts_this_projects_calls(login: Callable[[User], Client], viewer: User, other_project: Project) -> None:
    ingest(other_project, make_call(agent="globex-secret-agent"))
    html = login(viewer).get(URL).content.decode()
    assert "globex-secret-agent" not in html
    assert "No calls yet" in html


def test_an_empty_project_explains_how_to_send_calls(login: Callable[[User], Client], engineer: User) -> None:
    html = login(engineer).get(URL).content.decode()
    assert "No calls yet" in html
    assert "curl -X POST http://testserver/api/v1/calls" in html
    assert 'href="/p/acme/uploads/"' in html and 'href="/p/acme/keys/"' in html


def test_a_viewer_is_not_offered_to_upload_or_create_keys(login: Callable[[User], Client], viewer: User) -> None:
    html = login(viewer).get(URL).content.decode()
    assert "No calls yet" in html
    assert 'href="/p/acme/uploads/"' not in html and 'href="/p/acme/keys/"' not in html


def test_the_period_can_be_chosen(login: Callable[[User], Client], viewer: User, project: Project) -> None:
    ingest(project, make_call(timestamp="2025-03-01T10:00:00Z"), make_call(timestamp="2025-03-20T10:00:00Z"))
    client = login(viewer)
    assert "Sat Mar 1" not in client.get(URL, {"days": 7}).content.decode()
    assert "Sat Mar 1: 1 call," in client.get(URL, {"days": 30}).content.decode()


def test_a_period_that_is_not_offered_is_400_with_a_message(
    login: Callable[[User], Client], viewer: User, project: Project
) -> None:
    ingest(project, make_call())
    response = login(viewer).get(URL, {"days": "forever"})
    assert response.status_code == 400
    assert "Choose a period of 1, 7, 14, 30, 90 days." in response.content.decode()


def test_htmx_gets_only_the_dashboard_fragment(login: Callable[[User], Client], viewer: User, project: Project) -> None:
    ingest(project, make_call())
    response = login(viewer).get(URL, {"days": 7}, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<div id="dashboard-body">') and "<html" not in html
    assert "HX-Request" in response["Vary"]


def test_anonymous_is_sent_to_log_in(client: Client, project: Project) -> None:
    response = client.get(URL)
    assert response.status_code == 302 and response["Location"] == "/login/?next=/p/acme/"


def test_anonymous_htmx_request_redirects_the_whole_page(client: Client, project: Project) -> None:
    response = client.get(URL, HTTP_HX_REQUEST="true", HTTP_HX_CURRENT_URL="http://testserver/p/acme/?days=7")
    assert response["HX-Redirect"] == "/login/?next=%2Fp%2Facme%2F%3Fdays%3D7"


def test_an_outsider_gets_404(login: Callable[[User], Client], outsider: User) -> None:
    response = login(outsider).get(URL)
    assert response.status_code == 404
    assert "That page is not here" in response.content.decode()


def test_an_unknown_project_is_404(login: Callable[[User], Client], viewer: User) -> None:
    assert login(viewer).get("/p/no-such-project/").status_code == 404


def test_post_is_405(login: Callable[[User], Client], viewer: User) -> None:
    assert login(viewer).post(URL).status_code == 405
