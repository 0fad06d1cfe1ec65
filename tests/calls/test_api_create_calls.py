import gzip
import threading
from typing import Any

import orjson
import pytest
from django.db import connection
from django.test import Client

from apps.calls.models import Call
from apps.projects.models import ApiKey, Project
from apps.projects.services import api_key_create, api_key_revoke, project_create
from tests.conftest import make_call

URL = "/api/v1/calls"


def post(client: Client, calls: list[dict[str, Any]], **extra: Any) -> Any:
    return client.post(URL, orjson.dumps({"calls": calls}), content_type="application/json", **extra)


def test_valid_calls_are_stored_with_cost(api_client: Client, project: Project) -> None:
    unpriced = make_call(id="b")
    unpriced["request"]["model"] = "in-house-model"
    response = post(api_client, [make_call(id="a"), unpriced])
    assert response.status_code == 200
    assert response.json() == {"accepted": 2, "duplicates": 0, "rejected": [], "ignored_fields": []}
    call = Call.objects.get(project=project, client_id="a")
    assert call.request["messages"][1]["content"] == "My card was charged twice."
    assert call.response == {"role": "assistant", "content": "billing"}
    # gpt-4o: $2.50 in, $10 out per million tokens -> 1000 * 2.5e-6 + 100 * 1e-5
    assert float(call.cost) == pytest.approx(0.0035)
    assert Call.objects.get(project=project, client_id="b").cost is None


def test_a_retried_batch_is_all_duplicates(api_client: Client, project: Project) -> None:
    calls = [make_call(id=f"r{i}") for i in range(5)]
    post(api_client, calls)
    again = post(api_client, calls).json()
    assert again["accepted"] == 0 and again["duplicates"] == 5
    assert Call.objects.filter(project=project).count() == 5


def test_some_invalid_records_give_207_and_keep_the_valid(api_client: Client, project: Project) -> None:
    response = post(api_client, [make_call(id="ok"), make_call(id="bad", latency_ms="slow"), {"id": "x"}])
    assert response.status_code == 207
    body = response.json()
    assert body["accepted"] == 1
    assert body["rejected"][0] == {
        "index": 1,
        "id": "bad",
        "errors": [{"field": "latency_ms", "message": "must be a non-negative number"}],
    }
    assert body["rejected"][1]["index"] == 2
    assert list(Call.objects.filter(project=project).values_list("client_id", flat=True)) == ["ok"]


def test_ndjson_with_a_broken_line_stores_the_rest(api_client: Client, project: Project) -> None:
    lines = [orjson.dumps(make_call(id="n0")), b'{"id": "n1", "request": ', orjson.dumps(make_call(id="n2"))]
    response = api_client.post(URL, b"\n".join(lines), content_type="application/x-ndjson")
    assert response.status_code == 207
    assert response.json()["rejected"][0]["index"] == 1
    assert set(Call.objects.filter(project=project).values_list("client_id", flat=True)) == {"n0", "n2"}


def test_gzip_body(api_client: Client, project: Project) -> None:
    body = gzip.compress(orjson.dumps({"calls": [make_call(id="g")]}))
    response = api_client.post(URL, body, content_type="application/json", HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 200
    assert Call.objects.filter(project=project, client_id="g").exists()


def test_the_sample_file_loads_with_its_label_ignored(
    api_client: Client, sample_records: list[dict[str, Any]], project: Project
) -> None:
    body = post(api_client, sample_records[:500]).json()
    assert body["accepted"] == 500 and body["ignored_fields"] == ["source", "task"]
    stored = Call.objects.filter(project=project).first()
    assert stored is not None and "task" not in stored.metadata


def test_too_many_calls_is_413(api_client: Client, settings: Any, project: Project) -> None:
    settings.INGEST_MAX_CALLS = 2
    response = post(api_client, [make_call(), make_call(), make_call()])
    assert response.status_code == 413
    assert response.json()["errors"][0]["field"] == "calls"
    assert not Call.objects.filter(project=project).exists()


def test_too_many_bytes_is_413(api_client: Client, settings: Any) -> None:
    settings.INGEST_MAX_BYTES = 2048
    response = post(api_client, [make_call(metadata={"blob": "x" * 5000})])
    assert response.status_code == 413
    assert response.json()["code"] == "too_large"


def test_malformed_json_is_400_naming_the_body(api_client: Client) -> None:
    response = api_client.post(URL, b"{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "body"


def test_body_without_calls_is_400(api_client: Client) -> None:
    response = api_client.post(URL, b'{"records": []}', content_type="application/json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "calls"


def test_unsupported_content_type_is_415(api_client: Client) -> None:
    response = api_client.post(URL, b"a,b", content_type="text/csv")
    assert response.status_code == 415
    assert response.json()["errors"][0]["field"] == "Content-Type"


def test_no_key_is_401(client: Client) -> None:
    response = post(client, [make_call()])
    assert response.status_code == 401
    assert "Bearer" in response.json()["message"]


def test_a_revoked_key_is_401(client: Client, api_key: tuple[ApiKey, str]) -> None:
    api_key_revoke(key=api_key[0])
    assert post(client, [make_call()], HTTP_AUTHORIZATION=f"Bearer {api_key[1]}").status_code == 401


def test_a_read_only_key_is_403(client: Client, project: Project) -> None:
    _, secret = api_key_create(project=project, name="reader", scopes=["read"])
    response = post(client, [make_call()], HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert response.status_code == 403
    assert "ingest" in response.json()["message"]


def test_calls_land_in_the_keys_project_only(api_client: Client, project: Project, other_project: Project) -> None:
    post(api_client, [make_call(id="mine")])
    assert Call.objects.filter(project=project).count() == 1
    assert not Call.objects.filter(project=other_project).exists()


def test_the_same_client_id_in_two_projects_is_two_calls(
    client: Client, project: Project, other_project: Project
) -> None:
    for p in (project, other_project):
        _, secret = api_key_create(project=p, name="k")
        assert post(client, [make_call(id="same")], HTTP_AUTHORIZATION=f"Bearer {secret}").json()["accepted"] == 1


def test_wrong_method_is_405(api_client: Client) -> None:
    assert api_client.put(URL, b"{}", content_type="application/json").status_code == 405
    assert api_client.delete(URL).status_code == 405


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_posts_of_one_batch_store_each_call_once() -> None:
    project = project_create(slug="race")
    _, secret = api_key_create(project=project, name="k")
    body = orjson.dumps({"calls": [make_call(id=f"c{i}") for i in range(300)]})
    barrier = threading.Barrier(2)
    results: list[dict[str, Any]] = []

    def send() -> None:
        try:
            barrier.wait()
            response = Client().post(URL, body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {secret}")
            results.append(response.json())
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert Call.objects.filter(project=project).count() == 300
    assert len(results) == 2
    assert sum(r["accepted"] for r in results) == 300
    assert sum(r["duplicates"] for r in results) == 300
