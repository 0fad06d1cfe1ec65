from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("discovery", "0003_one_active_run_per_project"),
    ]

    operations = [
        migrations.AddField(
            model_name="taskcluster",
            name="stats",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.AddField(
            model_name="taskcluster",
            name="stats_at",
            field=models.DateTimeField(blank=True, help_text="When the statistics were computed.", null=True),
        ),
    ]
