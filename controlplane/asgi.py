"""The gateway process: uvicorn serves `controlplane.asgi` (apps.serving.gateway's async views, and every
other route of the project too). Like the web process, it imports no torch."""

import os
from importlib import import_module

from django.conf import settings
from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "controlplane.settings")

application = get_asgi_application()
import_module(settings.ROOT_URLCONF)
