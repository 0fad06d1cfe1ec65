"""POST /api/v1/endpoints and GET /api/v1/endpoints: the key goes in and never comes out."""

import json
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client

from apps.evaluation import services
from apps.evaluation.models import ModelEndpoint
from apps.projects.models import Project
from apps.projects.services import api_key_create

pytestmark = pytest.mark.django_db
URL = "/api/v1/endpoints"
KEY = "sk-proj-very-secret-0123456789"
BODY = {"name": "vllm-qwen", "base_url": "http://vllm:8000/v1", "model": "Qwen/Qwen2.5-0.5B-Instruct", "api_key": KEY}


def post(client: Client, body: dict[str, Any], **headers: Any) -> Any:
    return client.post(URL, json.dumps(body), content_type="application/json", **headers)


def test_adds_an_endpoint_and_never_returns_its_key(api_client: Client) -> None:
    response = post(api_client, {**BODY, "price_input_per_mtok": "0.05", "price_output_per_mtok": 0.1})
    assert response.status_code == 201, response.json()
    body = response.json()
    endpoint = ModelEndpoint.objects.get(id=body["id"])
    assert (body["name"], body["base_url"], body["model"], body["has_api_key"]) == (
        "vllm-qwen", "http://vllm:8000/v1", "Qwen/Qwen2.5-0.5B-Instruct", True
    )  # fmt: skip
    assert (Decimal(body["price_input_per_mtok"]), body["price_per_hour"]) == (Decimal("0.05"), None)
    assert KEY not in response.content.decode() and "api_key" not in body
    assert endpoint.api_key_encrypted and KEY not in endpoint.api_key_encrypted

    listed = api_client.get(URL)
    assert listed.status_code == 200
    assert [item["id"] for item in listed.json()["items"]] == [str(endpoint.id)]
    assert KEY not in listed.content.decode()


def test_adds_an_upstream_llm_with_the_models_it_serves(api_client: Client) -> None:
    response = post(api_client, {**BODY, "upstream": True, "models": ["gpt-4o*", "o3"]})
    assert response.status_code == 201, response.json()
    assert (response.json()["upstream"], response.json()["models"]) == (True, ["gpt-4o*", "o3"])
    response = post(api_client, {**BODY, "name": "candidate"})
    assert (response.json()["upstream"], response.json()["models"]) == (False, ["*"])
    listed = {item["name"]: (item["upstream"], item["models"]) for item in api_client.get(URL).json()["items"]}
    assert listed == {"vllm-qwen": (True, ["gpt-4o*", "o3"]), "candidate": (False, ["*"])}


@pytest.mark.parametrize(
    ("models", "field"),
    [([], "models"), ([""], "models.0"), (["ok", "x" * 201], "models.1"), (["m"] * 51, "models"), ("gpt-4o", "models")],
)
def test_bad_model_patterns_are_a_422_naming_the_field(api_client: Client, models: Any, field: str) -> None:
    response = post(api_client, {**BODY, "upstream": True, "models": models})
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == field, response.json()
    response = post(api_client, {**BODY, "upstream": True, "models": ["  "]})
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "models"
    assert not ModelEndpoint.objects.exists()


def test_lists_only_this_projects_endpoints(api_client: Client, other_project: Project) -> None:
    services.endpoint_create(project=other_project, name="theirs", base_url="http://h/v1", model="m")
    assert api_client.get(URL).json() == {"items": []}


def test_a_name_used_already_is_409(api_client: Client) -> None:
    assert post(api_client, BODY).status_code == 201
    response = post(api_client, BODY)
    assert response.status_code == 409 and response.json()["errors"][0]["field"] == "name"


def test_bad_input_is_a_clear_422(api_client: Client) -> None:
    response = post(api_client, {**BODY, "base_url": "vllm:8000"})
    assert response.status_code == 422 and response.json()["errors"] == [
        {"field": "base_url", "message": response.json()["message"]}
    ]
    response = post(api_client, {**BODY, "colour": "red"})
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "colour"
    response = post(api_client, {**BODY, "price_per_hour": 2, "price_input_per_mtok": 1})
    assert response.status_code == 422 and "not both" in response.json()["message"]
    response = post(api_client, {k: v for k, v in BODY.items() if k != "model"})
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "model"
    response = post(api_client, {**BODY, "price_per_hour": -1})
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "price_per_hour"


def test_no_key_is_401_a_read_only_key_reads_but_cannot_add(client: Client, project: Project) -> None:
    assert post(client, BODY).status_code == 401
    assert client.get(URL).status_code == 401
    _, read_only = api_key_create(project=project, name="viewer", scopes=["read"])
    response = post(client, BODY, HTTP_AUTHORIZATION=f"Bearer {read_only}")
    assert response.status_code == 403 and "'discover'" in response.json()["message"]
    assert client.get(URL, HTTP_AUTHORIZATION=f"Bearer {read_only}").status_code == 200
    _, ingest_only = api_key_create(project=project, name="agent", scopes=["ingest"])
    response = client.get(URL, HTTP_AUTHORIZATION=f"Bearer {ingest_only}")
    assert response.status_code == 403 and "'read'" in response.json()["message"]
    assert not ModelEndpoint.objects.exists()


def test_wrong_method_is_405(api_client: Client) -> None:
    assert api_client.delete(URL).status_code == 405
