"""The report page's form that starts an evaluation. It only reads the values: which candidates and numbers
are accepted is the service's to say (apps.evaluation.services.evaluation_create), as for the API."""

from django import forms

from apps.evaluation.services import MAX_SHOTS

# Where a DomainError's field is shown on the form; any other field (the task) is shown above it.
ERROR_FIELDS = {
    "candidate": "candidate",
    "candidate.training_run": "candidate",
    "candidate.endpoint": "candidate",
    "candidate.base_model": "base_model",
    "candidate.shots": "shots",
    "target": "target",
}


class EvaluateForm(forms.Form):
    candidate = forms.CharField(required=False, max_length=100)  # "training_run:<id>", "endpoint:<id>" or "base_model"
    base_model = forms.CharField(required=False, max_length=100)
    shots = forms.IntegerField(
        required=False,
        error_messages={
            "invalid": f"shots is the number of examples in the prompt: a whole number from 0 to {MAX_SHOTS}."
        },
    )
    target = forms.FloatField(
        required=False,
        error_messages={"invalid": "The target is an agreement above 0 and below 1, e.g. 0.95."},
    )
    again = forms.BooleanField(required=False)

    def error_field(self, field: str | None) -> str | None:
        """The form field a DomainError's `field` belongs next to. A base model's worker check names the
        candidate: it is shown by the model chosen."""
        name = ERROR_FIELDS.get(field or "")
        if name == "candidate" and self.cleaned_data.get("candidate") == "base_model":
            return "base_model"
        return name


class ScoringForm(forms.Form):
    """How the task's candidates are scored from now on: the target, and for free text the metric, its
    threshold and the judge endpoint. Empty target or threshold: the default."""

    target = forms.FloatField(
        required=False,
        error_messages={"invalid": "The target is an agreement above 0 and below 1, e.g. 0.95."},
    )
    text_metric = forms.CharField(required=False, max_length=16)
    text_threshold = forms.FloatField(
        required=False,
        error_messages={"invalid": "The threshold is a similarity above 0 and up to 1, e.g. 0.85."},
    )
    judge_endpoint = forms.UUIDField(
        required=False, error_messages={"invalid": "Choose one of the project's model endpoints."}
    )
