"""The web process never imports torch, also where the ml extra is installed (it costs seconds of
start-up and hundreds of MB per web worker). A fresh interpreter starts the app as gunicorn does,
loads every view and API module, serves requests, and reports what it imported."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
HEAVY = ("torch", "transformers", "peft", "sentence_transformers")

WEB_WORKER = """
import json, sys
{start}
import controlplane.urls  # every page and API module
from django.test import Client

client = Client()
statuses = [client.get(path).status_code for path in ("/healthz", "/login/", "/api/openapi.json")]
print(json.dumps({
    "statuses": statuses,
    "loaded": [m for m in sys.argv[1:] if m in sys.modules],
    "pii_engine": "presidio_analyzer" in sys.modules and "spacy" in sys.modules,
}))
"""


STARTS = {
    "gunicorn": "import controlplane.wsgi  # django.setup() and the PII engine's warm-up",
    "django.setup": "import django; django.setup()  # what manage.py runserver and every command do",
}


@pytest.mark.parametrize("start", STARTS.values(), ids=list(STARTS))
def test_the_web_process_imports_no_torch(start: str) -> None:
    if importlib.util.find_spec("torch") is None:
        pytest.skip("torch is not installed here (no ml extra), so nothing could import it")
    done = subprocess.run(
        [sys.executable, "-c", WEB_WORKER.replace("{start}", start), *HEAVY],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["statuses"] == [200, 200, 200]
    assert report["pii_engine"], "the web process should have built the PII engine (spaCy + presidio)"
    assert report["loaded"] == [], f"the web process imported {', '.join(report['loaded'])}"
