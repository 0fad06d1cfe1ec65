import gzip
import zlib
from datetime import datetime, time, timedelta
from typing import IO, Any, cast

from django import forms
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.utils import timezone

from apps.calls.models import CallRoute, CallStatus
from apps.calls.selectors import CallFilters
from apps.common.ids import as_uuid
from apps.curation import eligibility

DASHBOARD_DAYS = (1, 7, 14, 30, 90)


class CallFilterForm(forms.Form):
    agent = forms.CharField(max_length=200, required=False)
    model = forms.CharField(max_length=200, required=False)
    workload = forms.CharField(max_length=200, required=False)
    status = forms.ChoiceField(
        choices=[("", "Any status"), *CallStatus.choices],
        required=False,
        error_messages={"invalid_choice": "Status is either “ok” or “error”."},
    )
    training = forms.ChoiceField(
        choices=[("", "Any"), ("yes", "Trainable"), ("no", "Excluded"), *eligibility.REASON_LABELS.items()],
        required=False,
        error_messages={"invalid_choice": "Choose trainable, excluded, or one exclusion reason."},
    )
    cluster = forms.CharField(max_length=40, required=False)
    route = forms.ChoiceField(
        choices=[("", "Any route"), *CallRoute.choices, ("none", "Not through the gateway")],
        required=False,
        error_messages={"invalid_choice": "Route is LLM, Specialist, Escalated, Shadow, or “Not through the gateway”."},
    )
    since = forms.DateField(required=False, error_messages={"invalid": "“From” must be a date such as 2025-01-31."})
    until = forms.DateField(required=False, error_messages={"invalid": "“To” must be a date such as 2025-01-31."})
    cursor = forms.CharField(max_length=500, required=False)

    def clean_cluster(self) -> str:
        value: str = self.cleaned_data.get("cluster", "")
        if value and value != "none" and as_uuid(value) is None:
            raise forms.ValidationError("Task must be one of the project's tasks, or “No task”.")
        return value

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        since, until = data.get("since"), data.get("until")
        if since and until and since > until:
            raise forms.ValidationError("“From” is after “To”; swap the dates.")
        return data

    def filters(self) -> CallFilters:
        """`until` is inclusive for people: calls on that whole day are in."""
        data = self.cleaned_data
        zone = timezone.get_current_timezone()
        since = until = None
        if data.get("since"):
            since = datetime.combine(data["since"], time.min, tzinfo=zone)
        if data.get("until"):
            until = datetime.combine(data["until"] + timedelta(days=1), time.min, tzinfo=zone)
        return CallFilters(
            agent=data.get("agent", ""),
            model=data.get("model", ""),
            workload=data.get("workload", ""),
            status=data.get("status", ""),
            training=data.get("training", ""),
            cluster=data.get("cluster", ""),
            route=data.get("route", ""),
            since=since,
            until=until,
        )

    @property
    def is_filtered(self) -> bool:
        fields = ("agent", "model", "workload", "status", "training", "cluster", "route", "since", "until")
        return self.is_bound and any(self.data.get(name) for name in fields)


class DashboardForm(forms.Form):
    days = forms.TypedChoiceField(
        choices=[(str(d), f"{d} days") for d in DASHBOARD_DAYS],
        coerce=int,
        required=False,
        empty_value=14,  # type: ignore[arg-type]  # the default period when none is asked for
        error_messages={"invalid_choice": f"Choose a period of {', '.join(map(str, DASHBOARD_DAYS))} days."},
    )


def size_text(n: int, *, exact: bool = False) -> str:
    """Bytes for people, in binary units as the settings are: "30.0 MB"; `exact` drops a ".0"."""
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if n >= scale:
            text = f"{n / scale:,.1f}"
            return f"{text.removesuffix('.0') if exact else text} {unit}"
    return f"{n:,} bytes"


def long_line(stream: IO[bytes], *, limit: int, budget: int) -> tuple[int, int, bool] | None:
    """The first line longer than `limit` bytes in the first `budget` bytes of a stream, as (its number
    from 1, its length, whether that length is whole), else None. It reads chunks no longer than
    `limit`, so a line wholly inside a chunk is within the limit: a few steps per chunk, any file."""
    size = min(limit, 1 << 20)
    line, current, read = 1, 0, 0
    while read < budget:
        chunk = stream.read(min(size, budget - read))
        if not chunk:
            break
        read += len(chunk)
        newline = chunk.find(b"\n")
        if newline == -1:
            current += len(chunk)
            continue
        if current + newline > limit:
            return line, current + newline, True
        line += chunk.count(b"\n")
        current = len(chunk) - chunk.rfind(b"\n") - 1
    if current > limit:
        return line, current, read < budget
    return None


class UploadForm(forms.Form):
    """A JSONL file, held to the API's limits: no call (line) larger than one API request may be
    (INGEST_MAX_BYTES, uncompressed), and the file within UPLOAD_MAX_BYTES. The import job reads it
    in batches of at most INGEST_MAX_CALLS calls, as the API does a request."""

    file = forms.FileField(
        help_text="A .jsonl file (gzip is fine): one call per line, in the same shape as the API accepts.",
        error_messages={"required": "Choose a .jsonl file to upload.", "empty": "That file is empty."},
    )

    @staticmethod
    def max_megabytes() -> int:
        return int(settings.UPLOAD_MAX_BYTES // (1024 * 1024))

    @staticmethod
    def max_call_size() -> str:
        return size_text(settings.INGEST_MAX_BYTES, exact=True)

    def clean_file(self) -> UploadedFile:
        upload: UploadedFile = self.cleaned_data["file"]
        file_limit, call_limit = settings.UPLOAD_MAX_BYTES, settings.INGEST_MAX_BYTES
        if upload.size is not None and upload.size > file_limit:
            raise forms.ValidationError(
                f"This file is {size_text(upload.size)}; the limit is {size_text(file_limit, exact=True)} per upload.",
                code="too_large",
            )
        upload.seek(0)
        gzipped = upload.read(2) == b"\x1f\x8b"
        upload.seek(0)
        try:
            stream = cast(IO[bytes], gzip.GzipFile(fileobj=upload, mode="rb") if gzipped else upload)
            found = long_line(stream, limit=call_limit, budget=file_limit)
        except (OSError, EOFError, zlib.error) as exc:
            raise forms.ValidationError(f"This file looks gzipped but cannot be read: {exc}.", code="invalid") from exc
        finally:
            upload.seek(0)
        if found is not None:
            number, length, whole = found
            size, limit = size_text(length), size_text(call_limit, exact=True)
            if size_text(length, exact=True) == limit:  # "2.0 KB; the limit is 2 KB" says nothing
                size, limit = f"{length:,} bytes", f"{call_limit:,} bytes"
            raise forms.ValidationError(
                f"Line {number:,} of this file is {size if whole else 'over ' + size}; the limit is {limit} "
                "per call (one line), as in the API.",
                code="too_large",
            )
        return upload
