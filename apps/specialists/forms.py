from typing import Any

from django import forms

from apps.specialists.selection import Candidate
from apps.specialists.services import MAX_HELD_OUT


class DatasetForm(forms.Form):
    """Build a dataset for one of the task's eligible candidates (the recommendation is preselected)."""

    candidate = forms.ChoiceField(
        label="Start from",
        help_text="Eligible candidates, best first.",
        error_messages={"required": "Choose a model to start from.", "invalid_choice": "Choose an eligible model."},
    )
    val_fraction = forms.FloatField(
        label="Validation share",
        min_value=0,
        max_value=MAX_HELD_OUT,
        initial=0.1,
        widget=forms.NumberInput(attrs={"step": "0.01"}),
        help_text="Share of conversations kept aside to watch training (0.1 is 10%).",
    )
    test_fraction = forms.FloatField(
        label="Test share",
        min_value=0,
        max_value=MAX_HELD_OUT,
        initial=0.1,
        widget=forms.NumberInput(attrs={"step": "0.01"}),
        help_text="Share of conversations for the test split; a task's first test split is frozen and reused.",
    )
    seed = forms.IntegerField(initial=13, help_text="Fixes which conversations land in which split.")

    def __init__(self, *args: Any, candidates: list[Candidate], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        eligible = [c for c in candidates if c.eligible]
        self.by_key = {c.key: c for c in eligible}
        self.fields["candidate"].choices = [  # type: ignore[attr-defined]
            (c.key, f"{c.name}{' (recommended)' if c.recommended else ''}") for c in eligible
        ]
        recommended = next((c for c in eligible if c.recommended), None)
        if recommended is not None:
            self.fields["candidate"].initial = recommended.key

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        val, test = data.get("val_fraction"), data.get("test_fraction")
        if val is not None and test is not None and val + test > MAX_HELD_OUT:
            self.add_error("test_fraction", "Validation and test together may take at most half of the calls.")
        return data

    @property
    def chosen(self) -> Candidate:
        return self.by_key[self.cleaned_data["candidate"]]


class CatalogModelAddForm(forms.Form):
    """The admin's "add by Hugging Face id or local path" form: a folder fills in the figures itself."""

    hf_id = forms.CharField(
        label="Hugging Face id or local folder",
        max_length=200,
        help_text="owner/name (give the figures below), or a folder with config.json on this machine.",
    )
    name = forms.CharField(max_length=120, required=False)
    family = forms.CharField(max_length=60, required=False)
    params_b = forms.FloatField(label="Parameters (billions)", required=False, min_value=0.001)
    context_window = forms.IntegerField(label="Context window (tokens)", required=False, min_value=1)
    licence = forms.CharField(max_length=80, required=False, help_text="SPDX id, e.g. apache-2.0.")
    licence_url = forms.URLField(required=False, assume_scheme="https")
    source_url = forms.URLField(required=False, assume_scheme="https", help_text="Model card.")
    tool_calling = forms.NullBooleanField(
        required=False,
        widget=forms.Select(choices=[("unknown", "From the chat template"), ("true", "Yes"), ("false", "No")]),
    )
