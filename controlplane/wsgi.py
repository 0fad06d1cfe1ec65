"""The web process: gunicorn serves `controlplane.wsgi`.

The web process never imports torch. Where the ml extra is installed, spaCy's thinc imports torch as
soon as it can (thinc/compat.py), presidio probes torch for a GPU and imports transformers for NLP
engines we do not use: seconds of start-up and hundreds of MB in every web worker. Each of them falls
back when the import fails, and spaCy's tokenizer (and its NER pipelines) run on numpy. So the web
app starts with torch and transformers hidden; tests/common/test_no_torch.py checks that it stays so.
"""

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import import_module

from django.conf import settings
from django.core.wsgi import get_wsgi_application

WEB_HIDDEN = ("torch", "transformers")


@contextmanager
def hidden(*names: str) -> Iterator[None]:
    """Make `import name` fail (a None in sys.modules) for what is imported inside; a module already
    loaded stays as it is. After the block a deliberate import works again."""
    hid = [name for name in names if name not in sys.modules]
    for name in hid:
        sys.modules[name] = None  # type: ignore[assignment]
    try:
        yield
    finally:
        for name in hid:
            if sys.modules.get(name, ...) is None:
                del sys.modules[name]


os.environ.setdefault("DJANGO_SETTINGS_MODULE", "controlplane.settings")

with hidden(*WEB_HIDDEN):
    application = get_wsgi_application()
    import_module(settings.ROOT_URLCONF)  # every page and API module, loaded under the same rule

    # Build the PII engine before the first request (with gunicorn --preload, once, shared by the
    # workers): it takes a second or two, and every ingest request needs it.
    from apps.curation.services import pii_scanner_warm_up

    pii_scanner_warm_up()
