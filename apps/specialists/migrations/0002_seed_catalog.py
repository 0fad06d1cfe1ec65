"""Seed the model catalog from apps/specialists/catalog.json (update_or_create by hf_id: re-running is harmless)."""

from django.db import migrations


def seed(apps, schema_editor):
    from apps.specialists.catalog import catalog_seed

    catalog_seed(apps.get_model("specialists", "CatalogModel"))


class Migration(migrations.Migration):
    dependencies = [("specialists", "0001_initial")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
