"""A web worker's start-up: time and resident memory, against the same start-up with torch forced in.

    .venv/bin/python bench/webstart.py              # 3 rounds, about 30 s with the ml extra
    .venv/bin/python bench/webstart.py --rounds 5

Each sample is a fresh interpreter doing what a gunicorn worker does: import `controlplane.wsgi`
(django.setup(), every page and API module, the PII engine's warm-up), then serve GET /healthz and
GET /login/ through the WSGI handler. It reports the seconds from its first line to the answered
requests, the process's wall time (interpreter start to exit, as timed by this script), its resident
memory (VmRSS) after the requests and its peak (VmHWM), and which of torch / transformers it loaded.

- **current**: the code as it is.
- **baseline (torch in)**: the same, after `import torch` and `from transformers import pipeline`.
  That is what each web worker paid before the web process stopped importing torch: thinc imported
  torch, presidio imported transformers' pipelines.

The rounds alternate the two, so both see the same load; the table shows the median. Nothing touches
the database (DATABASE_URL defaults to a URL that is never connected to). Without torch installed the
baseline cannot run and only the current code is measured. It exits 0; 1 if a sample fails.
"""

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("torch", "transformers", "peft", "sentence_transformers")

WORKER = """
import time
started = time.perf_counter()
{preload}
import json, re, sys
import controlplane.wsgi
from django.test import Client

client = Client()
statuses = [client.get(path).status_code for path in ("/healthz", "/login/")]
ready = time.perf_counter() - started
status = open("/proc/self/status").read()
kb = {{key: int(re.search(key + r":\\s+(\\d+)", status).group(1)) for key in ("VmRSS", "VmHWM")}}
print(json.dumps({{
    "ready_s": ready, "rss_mb": kb["VmRSS"] / 1024, "peak_mb": kb["VmHWM"] / 1024, "statuses": statuses,
    "loaded": [m for m in {heavy!r} if m in sys.modules],
}}))
"""
VARIANTS = {
    "current": "",
    "baseline (torch in)": "import torch\nfrom transformers import pipeline",
}


def sample(preload: str) -> dict[str, Any]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "controlplane.settings",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    env.setdefault("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/downshift_bench")
    env.setdefault("REDIS_URL", "redis://127.0.0.1:6379/14")
    code = WORKER.format(preload=preload, heavy=HEAVY)
    began = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - began
    if done.returncode != 0:
        raise RuntimeError(f"the web worker failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    if result["statuses"] != [200, 200]:
        raise RuntimeError(f"the web worker answered {result['statuses']}")
    result["wall_s"] = wall
    return result


def commit() -> str:
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True).stdout
    return (done.stdout.strip() or "unknown") + (" (with local changes)" if dirty.strip() else "")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="samples of each variant (default 3)")
    args = parser.parse_args()

    variants = dict(VARIANTS)
    if importlib.util.find_spec("torch") is None or importlib.util.find_spec("transformers") is None:
        print("torch or transformers is not installed (no ml extra): measuring the current code only.")
        variants.pop("baseline (torch in)")
    print(f"commit {commit()}, python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}")
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in variants}
    try:
        for round_ in range(1, args.rounds + 1):
            for name, preload in variants.items():
                result = sample(preload)
                results[name].append(result)
                print(
                    f"  round {round_} {name:<20} ready {result['ready_s']:5.2f} s  wall {result['wall_s']:5.2f} s"
                    f"  RSS {result['rss_mb']:6.0f} MB  loaded: {', '.join(result['loaded']) or 'none'}"
                )
    except RuntimeError as exc:
        print(exc)
        return 1

    print("\nResult (median of each)")
    print(f"  {'':<22}{'start-up s':>11}{'wall s':>9}{'RSS MB':>9}{'peak MB':>9}  loaded")
    medians: dict[str, dict[str, float]] = {}
    for name, runs in results.items():
        m = {key: statistics.median(r[key] for r in runs) for key in ("ready_s", "wall_s", "rss_mb", "peak_mb")}
        medians[name] = m
        loaded = ", ".join(runs[-1]["loaded"]) or "none"
        print(f"  {name:<22}{m['ready_s']:>11.2f}{m['wall_s']:>9.2f}{m['rss_mb']:>9.0f}{m['peak_mb']:>9.0f}  {loaded}")
    if len(medians) == 2:
        now, before = medians["current"], medians["baseline (torch in)"]
        print(
            f"  current / baseline: start-up {now['ready_s'] / before['ready_s']:.2f}x, "
            f"RSS {now['rss_mb'] / before['rss_mb']:.2f}x ({before['rss_mb'] - now['rss_mb']:.0f} MB less per worker)"
        )
    if any(r["loaded"] for r in results["current"]):
        print("  NOTE: the current web worker loaded torch or transformers (see tests/common/test_no_torch.py)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
