from django.apps import AppConfig


class SpecialistsConfig(AppConfig):
    name = "apps.specialists"
    verbose_name = "Specialists"

    def ready(self) -> None:
        from apps.specialists import tasks  # noqa: F401  (registers the job kinds)
