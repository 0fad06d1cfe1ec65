from django.apps import AppConfig


class FleetConfig(AppConfig):
    name = "apps.fleet"
    verbose_name = "GPU workers"

    def ready(self) -> None:
        from apps.fleet import tasks  # noqa: F401  (the worker's signals)
