from datetime import date, datetime, time, timedelta

from django import forms
from django.utils import timezone

from apps.common.errors import DomainError
from apps.monitoring.selectors import Period, period_of

PERIODS = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}
DEFAULT = "7d"
PERIOD_CHOICES = [("24h", "24 h"), ("7d", "7 d"), ("30d", "30 d"), ("custom", "Custom")]


def _midnight(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


class PeriodForm(forms.Form):
    """The offload page's period: the last 24 hours, 7 or 30 days, or custom dates (both days included)."""

    period = forms.ChoiceField(choices=PERIOD_CHOICES, required=False)
    since = forms.DateField(required=False, label="From")
    until = forms.DateField(required=False, label="To")

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        if data.get("period") != "custom":
            return data
        if not data.get("since") or not data.get("until"):
            raise forms.ValidationError("A custom period needs both dates.")
        try:
            data["custom"] = period_of(
                since=_midnight(data["since"]), until=_midnight(data["until"] + timedelta(days=1)), now=timezone.now()
            )
        except DomainError as exc:
            raise forms.ValidationError(exc.message) from None
        return data

    def chosen(self) -> tuple[str, Period]:
        """(the choice, its period); call after is_valid(). The default: the last 7 days."""
        choice = self.cleaned_data.get("period") or DEFAULT
        if choice == "custom":
            return choice, self.cleaned_data["custom"]
        return choice, recent(choice)


def recent(choice: str = "7d") -> Period:
    """The last 24 hours, 7 or 30 days, up to now."""
    now = timezone.now()
    return Period(since=now - PERIODS[choice], until=now)
