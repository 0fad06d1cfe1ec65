from django.apps import AppConfig


class EvaluationConfig(AppConfig):
    name = "apps.evaluation"
    verbose_name = "Evaluation"

    def ready(self) -> None:
        from apps.evaluation import tasks  # noqa: F401  (registers the job kind)
