from django import forms

from apps.serving.models import DeploymentMode

MODE_CHOICES = [(DeploymentMode.SHADOW.value, "Shadow"), (DeploymentMode.LIVE.value, "Live")]
CANARY_HELP = "The share of the task's calls it takes, 0 to 100."


class DeploymentStartForm(forms.Form):
    """Deploy the candidate of the approval in force; the initial values are the rollout approved."""

    mode = forms.ChoiceField(
        choices=MODE_CHOICES,
        help_text="Shadow: it answers in the background and its agreement is recorded; live: its answer is returned.",
    )
    canary_percent = forms.IntegerField(label="Canary (% of calls)", min_value=0, max_value=100, help_text=CANARY_HELP)


class DeploymentChangeForm(forms.Form):
    """Change a deployment's mode or canary share; a field left empty stays as it is."""

    mode = forms.ChoiceField(choices=[("", "Unchanged"), *MODE_CHOICES], required=False)
    canary_percent = forms.IntegerField(
        label="Canary (% of calls)", min_value=0, max_value=100, required=False, help_text=CANARY_HELP
    )
    production_sample_percent = forms.IntegerField(
        label="Production check (% of its calls)",
        min_value=0,
        max_value=100,
        required=False,
        help_text="Live: the share of the specialist's calls also sent to the LLM in the background and scored; "
        "the circuit breaker reads the agreement.",
    )

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        given = [data.get("canary_percent"), data.get("production_sample_percent")]
        if not self.errors and not data.get("mode") and all(value is None for value in given):
            raise forms.ValidationError("Give a mode, a canary share or a production check share.")
        return data


class RollbackForm(forms.Form):
    to = forms.ChoiceField(
        choices=[("previous", "The specialist that served before"), ("llm", "The LLM")], label="Roll back to"
    )
    comment = forms.CharField(required=False, max_length=2000, widget=forms.TextInput, label="Why")
