"""The web process: gunicorn serves `controlplane.wsgi`. It imports no torch: apps.curation imports
presidio and spaCy with torch hidden (see apps/curation/__init__.py); tests/common/test_no_torch.py checks it."""

import os
from importlib import import_module

from django.conf import settings
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "controlplane.settings")

application = get_wsgi_application()
from controlplane.metrics import metrics_dir_prepare  # noqa: E402  (after django.setup())

metrics_dir_prepare()  # a previous run's counters go when none of its processes lives
import_module(settings.ROOT_URLCONF)  # every page and API module, at start-up rather than on a request

# Build the PII engine before the first request (with gunicorn --preload, once, shared by the workers):
# it takes a second or two, and every ingest request needs it.
from apps.curation.services import pii_scanner_warm_up  # noqa: E402

pii_scanner_warm_up()
