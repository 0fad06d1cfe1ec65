from django.apps import AppConfig


class FleetConfig(AppConfig):
    name = "apps.fleet"
    verbose_name = "GPU workers"
