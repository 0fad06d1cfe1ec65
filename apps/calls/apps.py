from django.apps import AppConfig


class CallsConfig(AppConfig):
    name = "apps.calls"

    def ready(self) -> None:
        from apps.calls import tasks  # noqa: F401  (registers the job kinds)
