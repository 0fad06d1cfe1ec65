"""`manage.py create_project SLUG --scopes a,b,...` (or `--scopes all`) names the new key's scopes."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from apps.projects.models import ApiKeyScope, Project
from apps.projects.services import api_key_authenticate

pytestmark = pytest.mark.django_db


def created(*args: str) -> list[str]:
    out = StringIO()
    call_command("create_project", *args, stdout=out)
    key = api_key_authenticate(secret=out.getvalue().strip().splitlines()[-1])
    assert key is not None
    return key.scopes


def test_the_scopes_named_are_the_keys(db: None) -> None:
    assert created("release-bot", "--scopes", "read,approve") == ["approve", "read"]


def test_all_is_every_scope(db: None) -> None:
    assert created("ops", "--scopes", "all") == sorted(ApiKeyScope.values)


def test_without_scopes_the_key_gets_the_defaults(db: None) -> None:
    assert created("agent") == ["discover", "ingest", "read"]


@pytest.mark.parametrize("scopes", ["read,bless", "", " , "])
def test_an_unknown_scope_is_refused_and_nothing_is_created(db: None, scopes: str) -> None:
    with pytest.raises(CommandError, match="choose from ingest, read, discover, approve, admin, gateway, or all"):
        call_command("create_project", "agent", "--scopes", scopes, stdout=StringIO())
    assert not Project.objects.exists()
