"""GET /api/v1/workers: admin-scope keys only."""

from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from django.test import Client

from apps.fleet.models import GpuWorker
from apps.projects.models import Project
from apps.projects.services import api_key_create, api_key_revoke
from tests.fleet.conftest import H200

URL = "/api/v1/workers"


def _client(client: Client, secret: str) -> Client:
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {secret}"
    return client


@pytest.fixture
def admin_key(project: Project, admin_user: User) -> str:
    """An admin-scope key created by a project admin who is also a site administrator (staff)."""
    admin_user.is_staff = True
    admin_user.save(update_fields=["is_staff"])
    return api_key_create(project=project, name="ops", scopes=["admin"], created_by=admin_user)[1]


def test_a_project_admins_key_is_403_workers_belong_to_the_installation(
    client: Client, project: Project, admin_user: User
) -> None:
    _, secret = api_key_create(project=project, name="ops", scopes=["admin"], created_by=admin_user)
    response = _client(client, secret).get(URL)
    assert response.status_code == 403 and "site administrator" in response.json()["message"]


def test_an_admin_scope_key_lists_workers(
    client: Client, admin_key: str, make_worker: Callable[..., GpuWorker]
) -> None:
    make_worker("celery@gpu-1", age_s=2, draining=True, concurrency=2, current_job="abc")
    make_worker("celery@gpu-2", age_s=600, gpus=[])
    response = _client(client, admin_key).get(URL)
    assert response.status_code == 200
    items = response.json()["items"]
    assert [w["name"] for w in items] == ["celery@gpu-1", "celery@gpu-2"]
    first = items[0]
    assert first["status"] == "draining" and first["draining"] is True and first["concurrency"] == 2
    assert first["gpus"] == [H200] and first["free_gpu_memory_mb"] == 143771 - 20480
    assert first["queues"] == ["gpu"] and first["current_job"] == "abc" and 1 <= first["heartbeat_age_s"] < 10
    assert items[1]["status"] == "offline" and items[1]["gpus"] == [] and items[1]["current_job"] is None


def test_an_empty_fleet_is_an_empty_list(client: Client, admin_key: str) -> None:
    assert _client(client, admin_key).get(URL).json() == {"items": []}


def test_a_key_without_the_admin_scope_is_403(client: Client, project: Project) -> None:
    _, secret = api_key_create(project=project, name="reader", scopes=["read", "ingest", "discover"])
    response = _client(client, secret).get(URL)
    assert response.status_code == 403 and "'admin' scope" in response.json()["message"]


def test_no_key_or_a_revoked_one_is_401(client: Client, project: Project, admin_user: User) -> None:
    assert client.get(URL).status_code == 401
    key, secret = api_key_create(project=project, name="ops", scopes=["admin"], created_by=admin_user)
    api_key_revoke(key=key)
    assert _client(client, secret).get(URL).status_code == 401


def test_other_methods_are_405(client: Client, admin_key: str) -> None:
    assert _client(client, admin_key).post(URL).status_code == 405
