from typing import Any

from django import forms

from apps.approvals.models import Decision
from apps.approvals.services import DEFAULT_ROLLOUT, TEXT_LIMIT


class DecisionForm(forms.Form):
    """The approval panel's one form: the decision is the button pressed (request, approve, reject or
    revoke); the rollout fields matter for request and approve."""

    evaluation = forms.UUIDField(widget=forms.HiddenInput)
    decision = forms.ChoiceField(choices=Decision.choices)
    comment = forms.CharField(
        required=False,
        max_length=TEXT_LIMIT,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "What you checked, and why"}),
        help_text="Kept with the decision in the audit.",
    )
    reason_not_ready = forms.CharField(
        label="Why approve it although it is not ready",
        required=False,
        max_length=TEXT_LIMIT,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Required: the verdict is not ready. Recorded with the approval.",
    )
    shadow = forms.BooleanField(
        label="Shadow first",
        required=False,
        initial=DEFAULT_ROLLOUT["shadow"],
        help_text="It answers alongside the LLM, unused, until its live agreement is confirmed.",
    )
    canary_percent = forms.IntegerField(
        label="Canary (% of calls)",
        required=False,
        min_value=0,
        max_value=100,
        initial=DEFAULT_ROLLOUT["canary_percent"],
        help_text="The share of the task's calls it then answers.",
    )
    escalate_on_invalid = forms.BooleanField(
        label="Escalate to the LLM when validation fails",
        required=False,
        initial=DEFAULT_ROLLOUT["escalate_on_invalid"],
        help_text="An answer that does not parse or fails its schema goes to the LLM instead.",
    )

    def rollout(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "shadow": bool(data["shadow"]),
            "canary_percent": DEFAULT_ROLLOUT["canary_percent"]
            if data["canary_percent"] is None
            else data["canary_percent"],
            "escalate_on_invalid": bool(data["escalate_on_invalid"]),
        }

    def visible_field(self, name: str | None) -> str | None:
        """The field a service error belongs on, or None (shown above the form)."""
        name = (name or "").removeprefix("rollout.")
        return name if name in self.fields and name not in ("evaluation", "decision") else None
