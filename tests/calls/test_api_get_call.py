from django.test import Client

from apps.calls.ingest import Batch
from apps.calls.models import Call
from apps.calls.services import calls_ingest
from apps.projects.models import Project
from apps.projects.services import api_key_create
from tests.conftest import make_call


def stored(project: Project, **fields: object) -> Call:
    calls_ingest(project=project, batch=Batch(records=[(0, make_call(**fields))]))
    return Call.objects.filter(project=project).latest("received_at")


def test_returns_the_whole_call(api_client: Client, project: Project) -> None:
    call = stored(project, metadata={"session": "s1"}, trace_id="t-1")
    body = api_client.get(f"/api/v1/calls/{call.id}").json()
    assert body["id"] == str(call.id)
    assert body["request"]["messages"][0] == {"role": "system", "content": "Classify the ticket."}
    assert body["response"]["content"] == "billing"
    assert body["metadata"] == {"session": "s1"} and body["trace_id"] == "t-1"


def test_another_projects_call_is_404(api_client: Client, other_project: Project) -> None:
    call = stored(other_project)
    response = api_client.get(f"/api/v1/calls/{call.id}")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_an_id_that_is_not_a_uuid_is_404(api_client: Client) -> None:
    assert api_client.get("/api/v1/calls/12").status_code == 404


def test_no_key_is_401(client: Client, project: Project) -> None:
    assert client.get(f"/api/v1/calls/{stored(project).id}").status_code == 401


def test_an_ingest_only_key_is_403(client: Client, project: Project) -> None:
    _, secret = api_key_create(project=project, name="writer", scopes=["ingest"])
    response = client.get(f"/api/v1/calls/{stored(project).id}", HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert response.status_code == 403


def test_wrong_method_is_405(api_client: Client, project: Project) -> None:
    assert api_client.delete(f"/api/v1/calls/{stored(project).id}").status_code == 405


def test_openapi_docs_describe_the_endpoints(client: Client) -> None:
    assert client.get("/api/docs").status_code == 200
    schema = client.get("/api/openapi.json").json()
    assert {"/api/v1/calls", "/api/v1/calls/{call_id}"} <= set(schema["paths"])
    operations = {op["operationId"] for path in schema["paths"].values() for op in path.values()}
    assert {"create_calls", "list_calls", "get_call"} <= operations
