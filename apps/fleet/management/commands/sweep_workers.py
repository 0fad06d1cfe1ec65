from typing import Any

from django.core.management.base import BaseCommand

from apps.fleet import selectors, services


class Command(BaseCommand):
    help = (
        f"Requeue the training runs of GPU workers silent for more than {selectors.STALE_S} s. Live workers "
        "do this with every heartbeat; run it from cron too, for when every worker is down."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        requeued = services.workers_sweep()
        for run_id in requeued:
            self.stdout.write(f"requeued training run {run_id}")
        self.stdout.write(self.style.SUCCESS(f"{len(requeued)} training run(s) requeued"))
