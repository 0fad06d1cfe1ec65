from django.apps import AppConfig


class CurationConfig(AppConfig):
    name = "apps.curation"

    def ready(self) -> None:
        from apps.curation import tasks  # noqa: F401  (registers the job kinds)
