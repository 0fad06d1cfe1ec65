from typing import Any

from django import forms

from apps.common.errors import DomainError
from apps.projects.models import DEFAULT_API_KEY_SCOPES, ApiKeyScope, Role


def add_domain_error(form: forms.Form, exc: DomainError) -> None:
    """Show a service's error on the field it names, or above the form."""
    form.add_error(exc.field if exc.field in form.fields else None, exc.message)


class ProjectForm(forms.Form):
    slug = forms.SlugField(
        max_length=64,
        help_text="Used in URLs: lower-case letters, digits and hyphens, such as support-agents.",
    )
    name = forms.CharField(max_length=200, required=False, help_text="Shown in the navigation; optional.")


class ProjectSettingsForm(forms.Form):
    name = forms.CharField(max_length=200, help_text="Shown in the navigation.")
    webhook_url = forms.URLField(
        max_length=500,
        required=False,
        assume_scheme="https",
        label="Webhook URL",
        help_text="Sent a JSON POST when a specialist's circuit breaker sends its task back to the LLM; owners "
        "and admins with an e-mail address are mailed as well. Leave blank for e-mail only.",
    )


class ApiKeyForm(forms.Form):
    """`allow_admin`: offer the admin scope (only a project admin may grant it); `allow_approve`: offer the
    approve scope (owners and admins). Neither is ever checked by default."""

    name = forms.CharField(max_length=100, help_text="Which agent or service will use it, such as support-bot.")
    scopes = forms.MultipleChoiceField(
        choices=ApiKeyScope.choices,
        initial=list(DEFAULT_API_KEY_SCOPES),
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Choose at least one scope."},
    )

    def __init__(self, *args: Any, allow_admin: bool = False, allow_approve: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        withheld = {ApiKeyScope.ADMIN} if not allow_admin else set()
        if not allow_approve:
            withheld.add(ApiKeyScope.APPROVE)
        field: forms.MultipleChoiceField = self.fields["scopes"]  # type: ignore[assignment]
        field.choices = [(value, label) for value, label in ApiKeyScope.choices if value not in withheld]


class MemberAddForm(forms.Form):
    username = forms.CharField(max_length=150, help_text="An existing account, or a new one is created.")
    email = forms.EmailField(required=False, help_text="Only used when a new account is created.")
    role = forms.ChoiceField(choices=Role.choices, initial=Role.VIEWER)


class MemberRoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)
