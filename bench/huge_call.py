"""Huge-call benchmark: the time of each text step on one call whose text is 40 KB, 400 KB and 5 MB,
to show that every step grows linearly (or stays flat where it is capped).

    .venv/bin/python bench/huge_call.py                              # all sizes, about a minute
    .venv/bin/python bench/huge_call.py --save /tmp/before.json      # keep the figures
    .venv/bin/python bench/huge_call.py --compare /tmp/before.json   # and set them against a run before

The call has one user message of the given size, in two kinds:

- **prose**: words with e-mails, phone numbers, card numbers and names every few words (dense PII, as
  in the hardening report: a 5 MB message held a web worker for 27 minutes);
- **run**: one unbroken run of letters and dashes ("ab-ab-..."), the input that made the old
  normalising regexes quadratic (40,000 characters took 13 s).

The steps, each timed in a child process so a runaway step is stopped at --limit seconds:

- **normalise**: apps.discovery.texts.normalise on the whole text (linear, not capped);
- **task texts**: task_texts(request, response), what assignment and discovery read per call (capped);
- **redact**: PiiScanner().redact_call on the call (linear: every character is scanned);
- **render**: the call page's fragment (calls/detail.html#call-detail), rendered from an unsaved Call,
  with the size of its HTML (capped: a screenful of each text).

"linear x" is (time / size) against the same step at the smallest size: about 1 means linear, well
under 1 means capped, far over 1 means super-linear. No database is needed.

Measured 2026-11-30 on the 2-core dev machine (shared), before and after issue 10's bounds:

    step        kind   40 KB            400 KB           5 MB
    normalise   run    13.0 s -> 0.01   > 40 s -> 0.06   > 40 s -> 0.80 s
    normalise   prose  0.009 -> 0.010   0.080 -> 0.078   1.16 -> 1.00 s
    task texts  run    20.3 s -> 0.004  > 40 s -> 0.004  > 40 s -> 0.004 s
    task texts  prose  0.025 -> 0.004   0.165 -> 0.004   1.30 -> 0.004 s
    redact      prose  0.40 -> 0.44     5.3 -> 4.6       > 40 s (27 min reported) -> 60 s
    redact      run    0.006 -> 0.005   0.047 -> 0.056   0.58 -> 0.62 s
    render      any    0.005 -> 0.012   0.009 -> 0.012   0.09 -> 0.012 s
    render HTML        84 KB -> 13 KB   805 KB -> 13 KB  10 MB -> 13 KB

Redacting dense PII stays the costly step (about 12 s a MB, nearly all of it phonenumbers checking
one candidate every 40 characters in 11 regions), but it grows linearly now; ordinary prose (the
demo's messages) redacts at about 2.4 MB/s.
"""

import argparse
import json
import logging
import multiprocessing
import os
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "controlplane.settings")
os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")

from apps.curation.scanner import PiiScanner  # noqa: E402
from apps.discovery.texts import normalise, task_texts  # noqa: E402

logging.getLogger("presidio-analyzer").setLevel(logging.WARNING)

SIZES = (40_000, 400_000, 5_000_000)
KINDS = ("prose", "run")
STEPS = ("normalise", "task texts", "redact", "render")


def prose(size: int, seed: int = 7) -> str:
    rng = random.Random(seed)
    pieces = [
        lambda: f"write to jane.doe{rng.randint(0, 9999)}@example.com",
        lambda: f"call (415) 555-{rng.randint(0, 9999):04d}",
        lambda: "card 4111 1111 1111 1111",
        lambda: "Samuel Lindqvist asked",
        lambda: "about the order that never arrived",
        lambda: f"ticket {rng.randint(0, 99999)} on 2025-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}",
    ]
    out: list[str] = []
    length = 0
    while length < size:
        piece = rng.choice(pieces)()
        out.append(piece)
        length += len(piece) + 1
    return " ".join(out)[:size]


def run(size: int) -> str:
    return ("ab-" * (size // 3 + 1))[:size]


def make_call(text: str) -> dict[str, Any]:
    return {
        "request": {
            "model": "gpt-4o",
            "messages": [
                {"role": "system", "content": "You answer support tickets. Be brief."},
                {"role": "user", "content": text},
            ],
        },
        "response": {"role": "assistant", "content": "billing"},
    }


def step_normalise(call: dict[str, Any]) -> dict[str, Any]:
    normalise(call["request"]["messages"][1]["content"])
    return {}


def step_task_texts(call: dict[str, Any]) -> dict[str, Any]:
    texts = task_texts(call["request"], call["response"])
    return {"chars": sum(len(t) for t in texts.as_tuple())}


def step_redact(call: dict[str, Any]) -> dict[str, Any]:
    _, _, _, tally = PiiScanner().redact_call(request=call["request"], response=call["response"], metadata={})
    return {"found": sum(tally.types.values())}


def step_render(call: dict[str, Any]) -> dict[str, Any]:
    import django

    django.setup()
    from django.template.loader import render_to_string

    from apps.calls.models import Call
    from apps.projects.models import Project

    record = Call(request=call["request"], response=call["response"], model="gpt-4o", agent="bench", metadata={})
    context = {"call": record, "project": Project(slug="bench"), "raw_url": "/p/bench/calls/raw/json/"}
    html = render_to_string("calls/detail.html#call-detail", context)
    return {"html": len(html.encode())}


STEP_FUNCTIONS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "normalise": step_normalise,
    "task texts": step_task_texts,
    "redact": step_redact,
    "render": step_render,
}


def _child(step: str, kind: str, size: int, conn: Any) -> None:
    call = make_call(prose(size) if kind == "prose" else run(size))
    started = time.perf_counter()
    extra = STEP_FUNCTIONS[step](call)
    conn.send({"seconds": time.perf_counter() - started, **extra})


def measure(step: str, kind: str, size: int, limit: float) -> dict[str, Any]:
    parent, child = multiprocessing.Pipe(duplex=False)
    process = multiprocessing.get_context("fork").Process(target=_child, args=(step, kind, size, child))
    process.start()
    if parent.poll(limit):
        result: dict[str, Any] = parent.recv()
        process.join()
        return result
    process.kill()
    process.join()
    return {"seconds": None, "limit": limit}


def _cell(result: dict[str, Any]) -> str:
    seconds = result.get("seconds")
    return f"> {result.get('limit', 0):.0f} s (stopped)" if seconds is None else f"{seconds:9.3f} s"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)), help="characters of the user message")
    parser.add_argument("--kinds", default=",".join(KINDS))
    parser.add_argument("--steps", default=",".join(STEPS))
    parser.add_argument("--limit", type=float, default=60.0, help="seconds before a step is stopped")
    parser.add_argument("--save", help="write the figures to this JSON file")
    parser.add_argument("--compare", help="a JSON file from an earlier --save, shown beside this run")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    for step in args.steps.split(","):  # load the engine, name lists and templates before forking
        STEP_FUNCTIONS[step](make_call(prose(2_000)))
    earlier: dict[str, Any] = json.loads(Path(args.compare).read_text()) if args.compare else {}
    figures: dict[str, Any] = {}
    print(f"{'step':<11} {'kind':<6} {'chars':>10} {'time':>20} {'linear x':>9}  {'detail':<22} earlier")
    for step in args.steps.split(","):
        for kind in args.kinds.split(","):
            first: tuple[int, float] | None = None
            stopped = False
            for size in sizes:
                key = f"{step}/{kind}/{size}"
                result = {"seconds": None, "limit": args.limit} if stopped else measure(step, kind, size, args.limit)
                figures[key] = result
                seconds = result.get("seconds")
                stopped = seconds is None
                ratio = ""
                if seconds is not None and first is None:
                    first = (size, max(seconds, 1e-6))
                elif seconds is not None and first is not None:
                    ratio = f"{(seconds / size) / (first[1] / first[0]):8.2f}"
                detail = ", ".join(f"{k} {v:,}" for k, v in result.items() if k not in ("seconds", "limit"))
                before = earlier.get(key)
                was = "" if before is None else _cell(before).strip()
                print(f"{step:<11} {kind:<6} {size:>10,} {_cell(result):>20} {ratio:>9}  {detail:<22} {was}")
                sys.stdout.flush()
    if args.save:
        Path(args.save).write_text(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
