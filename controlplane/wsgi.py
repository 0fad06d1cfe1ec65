import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "controlplane.settings")
application = get_wsgi_application()

# Build the PII engine before the first request (with gunicorn --preload, once, shared by the workers):
# it takes a second or two, and every ingest request needs it.
from apps.curation.services import pii_scanner_warm_up  # noqa: E402

pii_scanner_warm_up()
