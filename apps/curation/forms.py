from typing import Any

from django import forms

from apps.curation.models import DEFAULT_NER_MODEL, CurationPolicy, Operator
from apps.curation.scanner import CustomPattern
from apps.curation.services import (
    CUSTOM_ENTITY,
    NER_ONLY_TYPES,
    POLICY_TYPES,
    PolicyChange,
    custom_pattern_error,
    policy_entities,
)

TYPE_HELP = {
    "EMAIL_ADDRESS": "jane@example.com",
    "PHONE_NUMBER": "+1 415-555-0134, 020 7946 0958",
    "CREDIT_CARD": "card numbers that pass the Luhn check",
    "IBAN_CODE": "DE89 3704 0044 0532 0130 00",
    "IP_ADDRESS": "IPv4 and IPv6 addresses",
    "US_SSN": "US social security numbers",
    "CRYPTO": "bitcoin wallet addresses",
    "PERSON": "people's names: by the NER model in running text, and a known first name + surname",
    "SECRET": "API keys and tokens (OpenAI, AWS, GitHub, Slack, Google, JWT, bearer), values of password/token fields",
    "LOCATION": "countries, cities, places, buildings; needs an NER model (below)",
    "NRP": "nationalities, religious and political groups; needs an NER model (below)",
    "ORGANIZATION": "companies, agencies, institutions; needs an NER model (below)",
}


class PolicyForm(forms.Form):
    allow_list = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "placeholder": "support@acme.example.com"}),
        help_text="One value per line: never redacted, matched without regard to case (your support address, say).",
    )
    operator = forms.ChoiceField(choices=Operator.choices, widget=forms.RadioSelect)
    ner_model_path = forms.CharField(
        max_length=500,
        required=False,
        label="NER model",
        help_text=f"It finds names, places, groups and organisations in what people wrote. {DEFAULT_NER_MODEL} "
        "(the default: spaCy's small English model), another installed spaCy model package by name, or the path "
        "of a spaCy pipeline or transformers token-classification folder on the server (never downloaded). "
        "Leave empty (or write none) for the pattern engine alone: faster, but it finds names only as a known "
        "first name + surname, and no places, groups or organisations.",
    )
    max_call_tokens = forms.IntegerField(
        min_value=1,
        max_value=10_000_000,
        label="Longest call used for training (tokens)",
        help_text="Prompt plus completion; longer calls are kept but not used as training data.",
    )
    preview_text = forms.CharField(
        required=False,
        label="Try it",
        widget=forms.Textarea(attrs={"rows": 4, "placeholder": "Paste text to see what this policy finds"}),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for entity in POLICY_TYPES:
            self.fields[f"on_{entity}"] = forms.BooleanField(required=False, label=entity)
            self.fields[f"threshold_{entity}"] = forms.FloatField(
                min_value=0.0, max_value=1.0, label=f"{entity} threshold"
            )

    @staticmethod
    def initial_for(policy: CurationPolicy) -> dict[str, Any]:
        initial: dict[str, Any] = {
            "allow_list": "\n".join(policy.allow_list),
            "operator": policy.operator,
            "ner_model_path": policy.ner_model_path,
            "max_call_tokens": policy.max_call_tokens,
        }
        for entity, setting in policy_entities(policy).items():
            initial[f"on_{entity}"] = setting["enabled"]
            initial[f"threshold_{entity}"] = setting["threshold"]
        return initial

    def type_rows(self) -> list[dict[str, Any]]:
        return [
            {
                "entity": entity,
                "on": self[f"on_{entity}"],
                "threshold": self[f"threshold_{entity}"],
                "help": TYPE_HELP.get(entity, ""),
                "ner_only": entity in NER_ONLY_TYPES,
            }
            for entity in POLICY_TYPES
        ]

    def change(self, custom: list[CustomPattern]) -> PolicyChange:
        data = self.cleaned_data
        return PolicyChange(
            entities={e: (bool(data[f"on_{e}"]), float(data[f"threshold_{e}"])) for e in POLICY_TYPES},
            allow_list=[line.strip() for line in data["allow_list"].splitlines() if line.strip()],
            custom=custom,
            operator=data["operator"],
            ner_model_path=data["ner_model_path"].strip(),
            max_call_tokens=data["max_call_tokens"],
        )


class CustomRecognizerForm(forms.Form):
    entity = forms.CharField(
        max_length=40, required=False, label="Type", widget=forms.TextInput(attrs={"placeholder": "EMPLOYEE_ID"})
    )
    pattern = forms.CharField(
        max_length=500,
        required=False,
        label="Regular expression",
        widget=forms.TextInput(attrs={"placeholder": r"EMP-\d{6}"}),
    )
    score = forms.FloatField(min_value=0.0, max_value=1.0, initial=0.8, required=False, label="Score")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        entity, pattern = (data.get("entity") or "").strip().upper(), data.get("pattern") or ""
        if not entity and not pattern:
            return data
        if not CUSTOM_ENTITY.match(entity):
            self.add_error("entity", "2-40 capital letters, digits or _, starting with a letter (EMPLOYEE_ID).")
        elif entity in POLICY_TYPES:
            self.add_error("entity", f"{entity} is a built-in type; give your recognizer its own name.")
        if not pattern:
            self.add_error("pattern", "Give the regular expression this type matches.")
        else:
            error = custom_pattern_error(pattern)
            if error:
                self.add_error("pattern", error)
        data["entity"] = entity
        return data

    def pattern_or_none(self) -> CustomPattern | None:
        data = self.cleaned_data
        if not data.get("entity") or data.get("DELETE"):
            return None
        score = data.get("score")
        return CustomPattern(entity=data["entity"], pattern=data["pattern"], score=0.8 if score is None else score)


CustomRecognizerFormSet = forms.formset_factory(CustomRecognizerForm, extra=1, can_delete=True, max_num=50)


def custom_initial(policy: CurationPolicy) -> list[dict[str, Any]]:
    return [dict(c) for c in policy.custom_recognizers]
