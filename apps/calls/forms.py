from datetime import datetime, time, timedelta
from typing import Any

from django import forms
from django.conf import settings
from django.utils import timezone

from apps.calls.models import CallStatus
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
            since=since,
            until=until,
        )

    @property
    def is_filtered(self) -> bool:
        fields = ("agent", "model", "workload", "status", "training", "since", "until")
        return self.is_bound and any(self.data.get(name) for name in fields)


class DashboardForm(forms.Form):
    days = forms.TypedChoiceField(
        choices=[(str(d), f"{d} days") for d in DASHBOARD_DAYS],
        coerce=int,
        required=False,
        empty_value=14,  # type: ignore[arg-type]  # the default period when none is asked for
        error_messages={"invalid_choice": f"Choose a period of {', '.join(map(str, DASHBOARD_DAYS))} days."},
    )


class UploadForm(forms.Form):
    file = forms.FileField(
        help_text="A .jsonl file (gzip is fine): one call per line, in the same shape as the API accepts.",
        error_messages={"required": "Choose a .jsonl file to upload.", "empty": "That file is empty."},
    )

    @staticmethod
    def max_megabytes() -> int:
        return int(settings.UPLOAD_MAX_BYTES // (1024 * 1024))
