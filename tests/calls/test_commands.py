from io import StringIO
from pathlib import Path

import orjson
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from apps.calls.models import Call
from apps.projects.models import ApiKey, Project
from apps.projects.services import api_key_authenticate
from tests.conftest import make_call


def test_create_project_prints_a_working_key_last(db: None) -> None:
    out = StringIO()
    call_command("create_project", "support-bot", stdout=out)
    secret = out.getvalue().strip().splitlines()[-1]
    key = api_key_authenticate(secret=secret)
    assert key is not None and key.project.slug == "support-bot"
    assert ApiKey.objects.count() == 1


def test_create_project_refuses_a_taken_slug(project: Project) -> None:
    with pytest.raises(CommandError, match="already exists"):
        call_command("create_project", project.slug, stdout=StringIO())


def test_import_calls_backfills_with_progress_and_errors(project: Project, tmp_path: Path) -> None:
    path = tmp_path / "calls.jsonl"
    path.write_bytes(b"\n".join([orjson.dumps(make_call(id="i1")), b"nope", orjson.dumps(make_call(id="i2"))]))
    out, err = StringIO(), StringIO()
    call_command("import_calls", str(path), project=project.slug, stdout=out, stderr=err)
    assert "2 calls stored, 0 duplicates, 1 rejected" in out.getvalue()
    assert "line 2: line: not valid JSON" in out.getvalue()
    assert "importing calls.jsonl" in err.getvalue()
    call_command("import_calls", str(path), project=project.slug, stdout=out, stderr=StringIO())
    assert "0 calls stored, 2 duplicates" in out.getvalue()
    assert Call.objects.filter(project=project).count() == 2


def test_import_calls_needs_a_known_project_and_a_file(project: Project, tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="No project"):
        call_command("import_calls", str(tmp_path / "x.jsonl"), project="nope")
    with pytest.raises(CommandError, match="No such file"):
        call_command("import_calls", str(tmp_path / "x.jsonl"), project=project.slug)
