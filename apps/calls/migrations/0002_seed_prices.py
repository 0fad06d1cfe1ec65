"""Seed the price table with public list prices (USD per million tokens, late 2025); admins edit them."""

from decimal import Decimal

from django.db import migrations

PRICES = {
    "gpt-4o": ("2.50", "10.00"),
    "gpt-4o-mini": ("0.15", "0.60"),
    "gpt-4.1": ("2.00", "8.00"),
    "gpt-4.1-mini": ("0.40", "1.60"),
    "gpt-4.1-nano": ("0.10", "0.40"),
    "gpt-4-turbo": ("10.00", "30.00"),
    "gpt-3.5-turbo": ("0.50", "1.50"),
    "gpt-5": ("1.25", "10.00"),
    "gpt-5-mini": ("0.25", "2.00"),
    "gpt-5-nano": ("0.05", "0.40"),
    "o1": ("15.00", "60.00"),
    "o3": ("2.00", "8.00"),
    "o3-mini": ("1.10", "4.40"),
    "o4-mini": ("1.10", "4.40"),
    "claude-3-5-sonnet": ("3.00", "15.00"),
    "claude-3-7-sonnet": ("3.00", "15.00"),
    "claude-sonnet-4": ("3.00", "15.00"),
    "claude-3-5-haiku": ("0.80", "4.00"),
    "claude-opus-4": ("15.00", "75.00"),
    "gemini-2.0-flash": ("0.10", "0.40"),
    "gemini-2.5-flash": ("0.30", "2.50"),
    "gemini-2.5-pro": ("1.25", "10.00"),
}


def seed(apps, schema_editor):  # type: ignore[no-untyped-def]
    ModelPrice = apps.get_model("calls", "ModelPrice")
    for model, (inp, out) in PRICES.items():
        ModelPrice.objects.get_or_create(
            model=model, defaults={"input_per_mtok": Decimal(inp), "output_per_mtok": Decimal(out)}
        )


class Migration(migrations.Migration):
    dependencies = [("calls", "0001_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
