from django.apps import AppConfig


class DiscoveryConfig(AppConfig):
    name = "apps.discovery"
    verbose_name = "Task discovery"

    def ready(self) -> None:
        from apps.calls.signals import call_costs_changed, calls_stored
        from apps.discovery import tasks

        calls_stored.connect(tasks.calls_stored_receiver, dispatch_uid="discovery.assign")
        call_costs_changed.connect(tasks.call_costs_changed_receiver, dispatch_uid="discovery.stats")
