from django.apps import AppConfig


class ServingConfig(AppConfig):
    name = "apps.serving"
    verbose_name = "Serving"

    def ready(self) -> None:
        from apps.approvals.signals import approval_revoked
        from apps.serving import tasks
        from apps.serving.services import deployments_stop_for_revoked
        from apps.serving.signals import backend_start_wanted, backend_stop_wanted

        approval_revoked.connect(deployments_stop_for_revoked, dispatch_uid="serving.stop_revoked")
        backend_start_wanted.connect(tasks.backend_start_wanted_receiver, dispatch_uid="serving.start_backend")
        backend_stop_wanted.connect(tasks.backend_stop_wanted_receiver, dispatch_uid="serving.stop_backend")
