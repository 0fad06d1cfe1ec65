from django.apps import AppConfig


class ServingConfig(AppConfig):
    name = "apps.serving"
    verbose_name = "Serving"

    def ready(self) -> None:
        from apps.approvals.signals import approval_revoked
        from apps.serving.services import deployments_stop_for_revoked

        approval_revoked.connect(deployments_stop_for_revoked, dispatch_uid="serving.stop_revoked")
