"""Under /api/ every error is the API's JSON shape ({"code", "message", "errors"}): unknown paths, wrong methods,
oversized bodies, crashes and database outages; pages answer the product's HTML error pages."""

import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import orjson
import pytest
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, SuspiciousOperation
from django.db import connection
from django.test import Client

from apps.evaluation import selectors as evaluation_selectors
from apps.projects import selectors as project_selectors
from controlplane.api import api

SECRET = "a secret detail of the crash"


def assert_error_shape(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status
    assert response["Content-Type"].startswith("application/json")
    body = orjson.loads(response.content)
    assert set(body) == {"code", "message", "errors"}
    assert isinstance(body["code"], str) and body["code"] and body["message"]
    assert all(set(error) == {"field", "message"} for error in body["errors"])
    return body


def assert_html(response: Any, status: int, text: str) -> None:
    assert response.status_code == status
    assert response["Content-Type"].startswith("text/html")
    assert text in response.content.decode()


def _boom(**kwargs: Any) -> None:
    raise RuntimeError(SECRET)


def test_an_unknown_api_path_is_404_json(api_client: Client) -> None:
    body = assert_error_shape(api_client.get("/api/v1/no-such-thing"), 404)
    assert body["code"] == "not_found" and "/api/v1/no-such-thing" in body["message"]
    assert_error_shape(api_client.get("/api/nothing/here/"), 404)


def test_an_unknown_page_is_the_html_404_page(login: Callable[[User], Client], owner: User) -> None:
    assert_html(login(owner).get("/no-such-page/"), 404, "That page is not here")


def test_a_wrong_method_on_the_api_is_405_json_naming_the_allowed_ones(api_client: Client) -> None:
    response = api_client.delete("/api/v1/endpoints")
    body = assert_error_shape(response, 405)
    assert body["code"] == "method_not_allowed"
    assert set(response["Allow"].split(", ")) == {"GET", "POST"}
    assert "GET" in body["message"] and "POST" in body["message"]


def test_a_wrong_method_on_a_page_stays_a_plain_405(login: Callable[[User], Client], owner: User) -> None:
    response = login(owner).delete("/")
    assert response.status_code == 405 and b"{" not in response.content


def test_a_body_over_the_upload_limit_is_413_json_naming_the_limit(api_client: Client, settings: Any) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2048
    payload = orjson.dumps({"name": "x" * 4096, "base_url": "http://model.test/v1", "model": "m"})
    response = api_client.post("/api/v1/endpoints", payload, content_type="application/json")
    body = assert_error_shape(response, 413)
    assert body["code"] == "too_large" and "2048 bytes" in body["message"]
    assert body["errors"] == [{"field": "body", "message": "is too large"}]


def test_a_form_over_the_upload_limit_on_a_page_is_413(client: Client, settings: Any) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2048
    response = client.post("/login/", {"username": "x" * 4096, "password": "pw"})
    assert response.status_code == 413 and b"2048 bytes" in response.content


def test_a_crash_in_an_api_handler_is_500_json_without_the_traceback(
    api_client: Client, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(evaluation_selectors, "endpoint_list", _boom)
    response = api_client.get("/api/v1/endpoints")
    body = assert_error_shape(response, 500)
    assert body["code"] == "server_error"
    assert SECRET.encode() not in response.content and b"Traceback" not in response.content
    assert any(record.exc_info and SECRET in str(record.exc_info[1]) for record in caplog.records)


@pytest.mark.parametrize(("error", "status"), [(PermissionDenied("no"), 403), (SuspiciousOperation("odd"), 400)])
def test_djangos_own_client_errors_in_an_api_handler_keep_their_status(
    api_client: Client, monkeypatch: pytest.MonkeyPatch, error: Exception, status: int
) -> None:
    def fail(**kwargs: Any) -> None:
        raise error

    monkeypatch.setattr(evaluation_selectors, "endpoint_list", fail)
    assert_error_shape(api_client.get("/api/v1/endpoints"), status)


def test_a_crash_in_a_page_is_the_html_500_page(
    owner: User, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    client = Client(raise_request_exception=False)
    client.force_login(owner)
    monkeypatch.setattr(project_selectors, "project_list", _boom)
    response = client.get("/")
    assert_html(response, 500, "Something went wrong on our side")
    assert SECRET.encode() not in response.content
    assert any(record.exc_info and SECRET in str(record.exc_info[1]) for record in caplog.records)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def database_down() -> Iterator[None]:
    """The real connection, closed and pointed at a port nothing listens on; restored afterwards."""
    saved = connection.settings_dict["PORT"]
    connection.close()
    connection.settings_dict["PORT"] = str(_closed_port())
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict["PORT"] = saved


@pytest.mark.django_db(transaction=True)
def test_a_database_outage_is_503_with_retry_after_everywhere(
    api_key: tuple[Any, str], owner: User, settings: Any
) -> None:
    settings.DB_OUTAGE_RETRY_AFTER_S = 7
    api = Client(HTTP_AUTHORIZATION=f"Bearer {api_key[1]}")
    page = Client(raise_request_exception=False)
    page.force_login(owner)
    api_with_session = Client(raise_request_exception=False, HTTP_AUTHORIZATION=f"Bearer {api_key[1]}")
    api_with_session.cookies = page.cookies
    with database_down():
        # The API key's lookup, in the handler's auth.
        response = api.get("/api/v1/endpoints")
        body = assert_error_shape(response, 503)
        assert body["code"] == "unavailable" and response["Retry-After"] == "7"
        # The session's lookup, in a middleware before any view: under /api/ JSON, for a page the 503 page.
        response = api_with_session.get("/api/v1/endpoints")
        assert_error_shape(response, 503)
        assert response["Retry-After"] == "7"
        response = page.get("/")
        assert_html(response, 503, "briefly unavailable")
        assert response["Retry-After"] == "7"
    assert api.get("/api/v1/endpoints").status_code == 200


def test_every_operation_documents_its_error_answers_in_the_error_shape() -> None:
    schema = api.get_openapi_schema()
    error = {"$ref": "#/components/schemas/ErrorOut"}
    assert set(schema["components"]["schemas"]["ErrorOut"]["required"]) == {"code", "message"}
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            documented = operation["responses"]
            expected = {"400", "422", "429", "503"} | ({"401", "403"} if operation.get("security") else set())
            expected |= {"404"} if "{" in path else set()
            expected |= {"409"} if method != "get" else set()
            assert expected <= set(documented), (method, path)
            for status in expected:
                assert documented[status]["content"]["application/json"]["schema"] == error, (method, path, status)
