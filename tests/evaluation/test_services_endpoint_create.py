"""Adding a model endpoint: its key encrypted at rest, its address and prices checked."""

from decimal import Decimal
from typing import Any

import pytest
from django.db import connection

from apps.common.errors import Conflict, DomainError
from apps.evaluation import crypto, services
from apps.evaluation.models import ModelEndpoint
from apps.projects.models import Project

pytestmark = pytest.mark.django_db
KEY = "sk-live-abcdefghijklmnopqrstuvwxyz"


def test_the_key_is_stored_encrypted_and_reads_back(project: Project) -> None:
    endpoint = services.endpoint_create(
        project=project, name=" vllm ", base_url="http://vllm:8000/v1/", model="qwen", api_key=KEY
    )
    assert (endpoint.name, endpoint.base_url, endpoint.has_api_key) == ("vllm", "http://vllm:8000/v1", True)
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM evaluation_modelendpoint WHERE id = %s", [endpoint.id])
        row = cursor.fetchone()
    assert KEY not in str(row)
    assert crypto.decrypt(endpoint.api_key_encrypted) == KEY


def test_a_key_under_an_earlier_secret_key_reads_while_it_is_a_fallback(project: Project, settings: Any) -> None:
    endpoint = services.endpoint_create(project=project, name="a", base_url="http://h/v1", model="m", api_key=KEY)
    old = settings.SECRET_KEY
    settings.SECRET_KEY = "a-new-secret-key"
    with pytest.raises(crypto.UnreadableKey):
        crypto.decrypt(endpoint.api_key_encrypted)
    settings.SECRET_KEY_FALLBACKS = [old]
    assert crypto.decrypt(endpoint.api_key_encrypted) == KEY


def test_no_key_is_allowed_for_a_server_without_auth(project: Project) -> None:
    endpoint = services.endpoint_create(project=project, name="local", base_url="http://127.0.0.1:8000/v1", model="m")
    assert (endpoint.api_key_encrypted, endpoint.has_api_key) == ("", False)


def test_a_full_chat_completions_url_is_cut_to_its_base(project: Project) -> None:
    endpoint = services.endpoint_create(
        project=project, name="a", base_url="https://api.example.com/v1/chat/completions", model="m"
    )
    assert endpoint.base_url == "https://api.example.com/v1"


@pytest.mark.parametrize("url", ["vllm:8000/v1", "ftp://host/v1", "http:///v1", "http://host/v1?x=1"])
def test_a_bad_base_url_is_refused(project: Project, url: str) -> None:
    with pytest.raises(DomainError, match="base URL") as refused:
        services.endpoint_create(project=project, name="a", base_url=url, model="m")
    assert refused.value.field == "base_url"


def test_one_name_per_project(project: Project, other_project: Project) -> None:
    services.endpoint_create(project=project, name="a", base_url="http://h/v1", model="m")
    with pytest.raises(Conflict, match="named 'a' already"):
        services.endpoint_create(project=project, name="a", base_url="http://h/v1", model="m2")
    services.endpoint_create(project=other_project, name="a", base_url="http://h/v1", model="m")
    assert ModelEndpoint.objects.count() == 2


def test_priced_per_hour_or_per_token_not_both(project: Project) -> None:
    hourly = services.endpoint_create(
        project=project, name="a", base_url="http://h/v1", model="m", price_per_hour=Decimal("1.20")
    )
    assert hourly.price_per_hour == Decimal("1.20") and hourly.price_input_per_mtok is None
    with pytest.raises(DomainError, match="not both"):
        services.endpoint_create(
            project=project, name="b", base_url="http://h/v1", model="m", price_per_hour=1, price_output_per_mtok=2
        )
    with pytest.raises(DomainError, match="from 0"):
        services.endpoint_create(project=project, name="c", base_url="http://h/v1", model="m", price_per_hour=-1)
