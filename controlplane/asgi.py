"""The gateway process: uvicorn serves `controlplane.asgi`: the gateway's routes on its fast path
(apps.serving.gateway.asgi), every other route of the project through Django. Like the web process, it
imports no torch."""

import os
from importlib import import_module

from django.conf import settings
from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "controlplane.settings")

django_application = get_asgi_application()
from controlplane.metrics import metrics_dir_prepare  # noqa: E402  (after django.setup())

metrics_dir_prepare()  # a previous run's counters go when none of its processes lives
import_module(settings.ROOT_URLCONF)

from apps.serving.gateway.asgi import gateway  # noqa: E402  (after django.setup())

application = gateway(django_application)
