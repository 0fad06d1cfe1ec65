"""The browser upload holds each call and each file to the API's limits, and says which limit."""

import gzip
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from apps.calls.models import ImportJob
from apps.projects.models import Project
from tests.conftest import make_call

URL = "/p/acme/uploads/"


@pytest.fixture
def engineer_client(login: Callable[[User], Client], engineer: User) -> Client:
    return login(engineer)


def upload(client: Client, name: str, content: bytes) -> Any:
    return client.post(URL, {"file": SimpleUploadedFile(name, content, content_type="application/x-ndjson")})


def line_of(size: int) -> bytes:
    """One call serialised to exactly `size` bytes (its user message pads it)."""
    record = make_call(id="padded")
    record["request"]["messages"][1]["content"] = ""
    bare = len(orjson.dumps(record))
    record["request"]["messages"][1]["content"] = "x" * (size - bare)
    line = orjson.dumps(record)
    assert len(line) == size
    return line


def test_a_30_mb_single_call_file_is_refused_naming_the_api_limit(engineer_client: Client, project: Project) -> None:
    response = upload(engineer_client, "huge.jsonl", line_of(30 * 1024 * 1024) + b"\n")
    html = response.content.decode()
    assert response.status_code == 413
    assert "Line 1 of this file is 30.0 MB; the limit is 20 MB per call (one line), as in the API." in html
    assert not ImportJob.objects.exists()


def test_the_form_names_both_limits(engineer_client: Client, project: Project) -> None:
    html = engineer_client.get(URL).content.decode()
    assert "Up to 512 MB a file and 20 MB a call (one line), as in the API." in html


@pytest.mark.parametrize("bad_line", [1, 2, 7, 40])
def test_the_line_over_the_call_limit_is_named_wherever_it_is(
    engineer_client: Client, project: Project, settings: Any, bad_line: int
) -> None:
    """Lines of exactly the limit pass; the one a byte over is found, across the chunks the file is read in."""
    settings.INGEST_MAX_BYTES = 2048
    lines = [line_of(2049 if n == bad_line else 2048 - (n % 3)) for n in range(1, 41)]
    response = upload(engineer_client, "calls.jsonl", b"\n".join(lines) + b"\n")
    assert response.status_code == 413
    message = (
        f"Line {bad_line} of this file is 2,049 bytes; the limit is 2,048 bytes per call (one line), as in the API."
    )
    assert message in response.content.decode()
    assert not ImportJob.objects.exists()


def test_lines_at_the_call_limit_are_accepted(engineer_client: Client, project: Project, settings: Any) -> None:
    settings.INGEST_MAX_BYTES = 2048
    content = b"\n".join(line_of(2048) for _ in range(10))  # no newline at the end either
    response = upload(engineer_client, "calls.jsonl", content)
    assert response.status_code == 302
    assert ImportJob.objects.filter(project=project).count() == 1


def test_a_gzipped_file_is_checked_uncompressed(engineer_client: Client, project: Project, settings: Any) -> None:
    settings.INGEST_MAX_BYTES = 4096
    content = gzip.compress(line_of(1000) + b"\n" + line_of(10_000) + b"\n")
    assert len(content) < 4096
    response = upload(engineer_client, "calls.jsonl.gz", content)
    assert response.status_code == 413
    assert "Line 2 of this file is 9.8 KB; the limit is 4 KB per call" in response.content.decode()


def test_a_file_over_the_upload_limit_is_refused(engineer_client: Client, project: Project, settings: Any) -> None:
    settings.UPLOAD_MAX_BYTES = 4096
    response = upload(engineer_client, "calls.jsonl", line_of(1000) + b"\n" + line_of(4000) + b"\n")
    assert response.status_code == 413
    assert "This file is 4.9 KB; the limit is 4 KB per upload." in response.content.decode()
    assert not ImportJob.objects.exists()


def test_a_broken_gzip_file_is_a_form_error(engineer_client: Client, project: Project) -> None:
    response = upload(engineer_client, "calls.jsonl.gz", gzip.compress(line_of(1000))[:-30] + b"garbage")
    assert response.status_code == 400
    assert "This file looks gzipped but cannot be read" in response.content.decode()
    assert not ImportJob.objects.exists()
