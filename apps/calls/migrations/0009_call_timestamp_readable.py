"""Calls stored before ingestion bounded timestamps may lie outside the years 1 to 9999 in UTC
("0001-01-01T00:00:00+14:00" is 1 BC there); Python cannot read such a row, so every page listing it
failed. Each gets the time it was received instead, the same time a call without a timestamp gets."""

from django.db import migrations

REPAIR_SQL = (
    "UPDATE calls_call SET timestamp = received_at"
    " WHERE timestamp < '0001-01-02 00:00:00+00' OR timestamp >= '9999-12-31 00:00:00+00'"
)


class Migration(migrations.Migration):
    dependencies = [("calls", "0008_call_project_route_time")]

    operations = [migrations.RunSQL(REPAIR_SQL, migrations.RunSQL.noop)]
