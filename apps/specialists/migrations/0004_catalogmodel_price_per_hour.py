"""A serving price per hour on catalog models (evaluations of local candidates are priced from it), and the
catalog seeded again for the packaged SmolLM2-135M entry (update_or_create by hf_id: harmless)."""

from django.db import migrations, models


def seed(apps, schema_editor):
    from apps.specialists.catalog import catalog_seed

    catalog_seed(apps.get_model("specialists", "CatalogModel"))


class Migration(migrations.Migration):
    dependencies = [("specialists", "0003_dataset_build_job")]

    operations = [
        migrations.AddField(
            model_name="catalogmodel",
            name="price_per_hour",
            field=models.DecimalField(
                blank=True,
                decimal_places=4,
                help_text="USD per hour of the host that would serve it: prices its evaluations per 1000 calls.",
                max_digits=10,
                null=True,
            ),
        ),
        migrations.RunPython(seed, migrations.RunPython.noop),
    ]
