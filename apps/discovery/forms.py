from datetime import datetime, time, timedelta
from typing import Any

from django import forms
from django.utils import timezone

from apps.discovery.models import TaskCluster


class FindTasksForm(forms.Form):
    """Options of a discovery run; all optional (the default is every curated call)."""

    since = forms.DateField(
        required=False,
        label="From",
        widget=forms.DateInput(attrs={"type": "date"}),
        error_messages={"invalid": "“From” must be a date such as 2025-01-31."},
    )
    until = forms.DateField(
        required=False,
        label="To",
        widget=forms.DateInput(attrs={"type": "date"}),
        error_messages={"invalid": "“To” must be a date such as 2025-01-31."},
    )
    min_cluster_size = forms.IntegerField(
        required=False,
        min_value=2,
        label="Smallest task",
        help_text="Calls a group needs to count as a task; empty: chosen from the number of calls.",
        error_messages={"min_value": "The smallest task must be at least 2 calls."},
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        since, until = data.get("since"), data.get("until")
        if since and until and since > until:
            raise forms.ValidationError("“From” is after “To”; swap the dates.")
        return data

    def window(self) -> tuple[datetime | None, datetime | None]:
        """`until` is inclusive for people: calls on that whole day are in."""
        zone = timezone.get_current_timezone()
        since, until = self.cleaned_data.get("since"), self.cleaned_data.get("until")
        return (
            datetime.combine(since, time.min, tzinfo=zone) if since else None,
            datetime.combine(until + timedelta(days=1), time.min, tzinfo=zone) if until else None,
        )


class TaskEditForm(forms.Form):
    name = forms.CharField(max_length=120, error_messages={"required": "A task needs a name."})
    description = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="What the task does, in words your team uses.",
    )


class TaskMergeForm(forms.Form):
    into = forms.ChoiceField(
        label="Merge into",
        error_messages={"required": "Choose the task to merge into.", "invalid_choice": "Choose an active task."},
    )

    def __init__(self, *args: Any, others: list[TaskCluster], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["into"].choices = [("", "Choose a task…")] + [  # type: ignore[attr-defined]
            (str(c.id), f"{c.code} {c.name}") for c in others
        ]


class KeepOnLlmForm(forms.Form):
    keep = forms.TypedChoiceField(
        choices=[("1", "Keep on the LLM"), ("0", "Candidate for a small model")],
        coerce=lambda v: v == "1",
        error_messages={"required": "Say whether to keep it.", "invalid_choice": "Send keep=1 or keep=0."},
    )
