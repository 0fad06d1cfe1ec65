"""Task discovery benchmark: quality on the shipped sample against a BERTopic-style baseline, then
time and memory of a discovery run at 100,000 calls and of a re-run after 10% more calls.

    .venv/bin/python bench/discovery.py                  # both parts, about 20 minutes on 2 cores
    .venv/bin/python bench/discovery.py --skip-scale     # the quality part only, about 3 minutes
    .venv/bin/python bench/discovery.py --scale 20000    # a smaller scale part

1. Quality. demo/agent_logs_sample.jsonl (3,000 calls, 8 task types) goes into a fresh project through
   calls_import_file (the product's file import, PII redaction included; the "task" field is dropped
   by the product and read back from the file as the truth, keyed by the record id). One discovery
   run (DiscoveryRun + pipeline.discovery_run_execute). ARI and NMI of Call.task_cluster against the
   true tasks (calls that fit no task count as one label, "none"), and per true task how many of its
   calls the cluster holding most of them has, and how pure that cluster is. The baseline, in the
   same run: the raw last user turn of each call, embedded with the same all-MiniLM-L6-v2
   (workers.jobs.embedding.embed), UMAP(n_neighbors=15, n_components=5, min_dist=0.0, cosine,
   random_state=42), HDBSCAN(min_cluster_size=10, euclidean, eom), noise as its own label "-1".
   Targets: product ARI >= 0.9, and above the baseline's.
2. Scale. --scale calls (default 100,000) made from the sample with the values real traffic varies:
   numbers become random numbers of the same number of digits, dates are shifted, person names from
   a list are swapped, and about half the copies get a small wording change to the last user turn
   (a greeting or politeness prefix or suffix from a list of 10, or one filler word inserted).
   System prompts, tools and the rest stay as they are (one call site per task). E-mails, IBANs and
   long digit runs (phones, cards) are left alone so the PII scanner still sees valid ones. They are
   ingested with calls_ingest in batches of 1,000 (timed apart). The embedding cache is then emptied
   entirely (even the system prompts and shapes cached by part 1), so the first run is cold. The run
   goes in a child process (this script with --child-run), so its peak RSS is its own; the parent
   polls the run row and prints its stage and message. Then 10% more varied calls (new ids) and a
   second run, the same way. Targets: first run <= 600 s and <= 4 GiB peak RSS; re-run <= 1/5 of
   the first run's time.

The figures for a run are: the wall time of discovery_run_execute in the child (the target figure;
it includes loading the embedding model), the child process's wall time (Python, Django and torch
start-up on top), its peak RSS (ru_maxrss; Postgres's memory is not in it), the run's own stage
timings (DiscoveryRun.timings), and a finer split measured by wrapping product functions in the child
(the product code is not changed): embedding, the embedding cache, reading calls and building texts,
the feature vectors, PCA, HDBSCAN, the map's UMAP, writing the assignments, describing the tasks.

Ingestion normally schedules incremental assignment of new calls (a Celery task) once a project has
tasks. The bench turns that off (it disconnects discovery's receiver of apps.calls.signals.calls_stored), so no job
is queued without a worker, and the re-run is the worst case: nothing assigned or embedded the new
calls in between, the re-run embeds their new texts itself.

Database: a throwaway database on the server of DATABASE_URL (default
postgresql://postgres@127.0.0.1:5432/downshift), named <its name>_discovery_bench. It is dropped and
created at the start, migrated, and dropped at the end, even when the run fails (--keep-db keeps it).
The dev database is not touched. Exit status 0 unless something breaks; --strict: 2 when a target is
missed.
"""

import argparse
import json
import os
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/downshift"
SAMPLE = ROOT / "demo" / "agent_logs_sample.jsonl"
DROPPED_FIELDS = ("task", "source")
BATCH = 1_000
TARGET_ARI = 0.9
TARGET_FIRST_S = 600.0
TARGET_PEAK_GIB = 4.0
TARGET_RERUN_RATIO = 0.2

os.environ.setdefault("DATABASE_URL", DEFAULT_DATABASE_URL)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "controlplane.settings")
os.environ.setdefault("NUMBA_CACHE_DIR", str(ROOT / "var" / "numba-cache"))
os.environ.setdefault("LOG_LEVEL", "WARNING")  # no per-recognizer and model-loading lines in the figures
os.environ.setdefault("TQDM_DISABLE", "1")

import orjson  # noqa: E402


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--scale", type=int, default=100_000, help="calls for the scale part (default 100000)")
    p.add_argument("--more", type=float, default=0.1, help="calls added before the re-run, a fraction (default 0.1)")
    p.add_argument("--skip-scale", action="store_true", help="the quality part only")
    p.add_argument("--seed", type=int, default=7, help="random seed for the varied copies (default 7)")
    p.add_argument("--keep-db", action="store_true", help="keep the throwaway database for inspection")
    p.add_argument("--strict", action="store_true", help="exit 2 when a target is missed")
    p.add_argument("--child-run", help=argparse.SUPPRESS)
    p.add_argument("--child-out", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.scale < 1 or args.more <= 0:
        p.error("--scale must be positive and --more above 0")
    return args


def say(message: str = "") -> None:
    print(message, flush=True)


# --- the throwaway database -----------------------------------------------------------------------


def bench_url(url: str) -> str:
    parts = urlsplit(url)
    name = parts.path.lstrip("/") or "downshift"
    return urlunsplit(parts._replace(path=f"/{name}_discovery_bench"))


def _admin(url: str) -> Any:
    import psycopg

    return psycopg.connect(urlunsplit(urlsplit(url)._replace(path="/postgres")), autocommit=True)


def db_create(url: str) -> None:
    from psycopg import sql

    name = urlsplit(url).path.lstrip("/")
    with _admin(url) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, check=True)


def db_drop(url: str) -> None:
    from django.db import connections
    from psycopg import sql

    connections.close_all()
    name = urlsplit(url).path.lstrip("/")
    with _admin(url) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


# --- the sample and its varied copies -------------------------------------------------------------


def load_sample() -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in SAMPLE.read_bytes().splitlines() if line.strip()]


def content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""


def last_user_turn(record: dict[str, Any]) -> str:
    users = [m for m in record["request"]["messages"] if m.get("role") == "user"]
    return content_text(users[-1].get("content")) if users else ""


MONTHS = [
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
]  # fmt: skip
FIRST_NAMES = [
    "John", "Sarah", "Jane", "David", "Olivia", "Mike", "Robert", "Jacob", "Harry", "Sally", "Alice", "Jackie",
    "Amelia", "Ravi", "Emmy", "Gerry", "Francine", "James", "Mary", "Emma", "Liam", "Noah", "Sophia", "Lucas",
    "Ethan", "Chloe", "Grace", "Daniel", "Laura", "Peter", "Anna", "Maria", "Carlos", "Priya", "Yuki", "Fatima",
]  # fmt: skip
LAST_NAMES = [
    "Smith", "Chen", "Lee", "Doe", "Davis", "Johnson", "Kim", "Brown", "Novak", "Varga", "Hughes",
    "Silva", "Garcia", "Miller", "Wilson", "Taylor", "Nguyen", "Patel", "Okafor", "Rossi", "Schmidt",
]  # fmt: skip
POLITE = [
    ("Hi, ", ""), ("Hello! ", ""), ("Hey there, ", ""), ("Good morning. ", ""), ("Please help: ", ""),
    ("", " Thanks!"), ("", " Thank you."), ("", " Thanks in advance."), ("", " Cheers."), ("", " Much appreciated."),
]  # fmt: skip
FILLERS = ["just", "actually", "really", "basically", "quickly", "also", "maybe", "kindly"]

_MONTH = "|".join(MONTHS)
_VALUES = re.compile(
    r"(?P<email>[\w.+-]+@[\w-]+\.[\w.-]+)"
    r"|(?P<iso>\b\d{4}-\d{2}-\d{2}\b)"
    rf"|(?P<mdy>\b(?:{_MONTH})\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}}\b)"
    rf"|(?P<dmy>\b\d{{1,2}}\s+(?:{_MONTH})\s+\d{{4}}\b)"
    rf"|(?P<md>\b(?:{_MONTH})\s+\d{{1,2}}(?:st|nd|rd|th)?\b)"
    r"|(?P<time>\b(?:[01]?\d|2[0-3]):[0-5]\d(?::[0-5]\d)?\b)"
    r"|(?P<iban>\b[A-Z]{2}\d{2}(?:\s?[A-Z0-9]{4}){2,7}(?:\s?[A-Z0-9]{1,4})?\b)"
    r"|(?P<run>\+?\d[\d ()./-]{6,}\d)"
    r"|(?P<num>\d+(?:\.\d+)?)"
    rf"|(?P<first>\b(?:{'|'.join(FIRST_NAMES)})\b)"
    rf"|(?P<last>\b(?:{'|'.join(LAST_NAMES)})\b)"
)
_NUM = re.compile(r"\d+(?:\.\d+)?")
_PARTS = re.compile(rf"({_MONTH})\s+(\d{{1,2}})(st|nd|rd|th)?(,?)\s+(\d{{4}})|(\d{{1,2}})\s+({_MONTH})\s+(\d{{4}})")
_MONTH_DAY = re.compile(rf"({_MONTH})\s+(\d{{1,2}})(st|nd|rd|th)?")


def _ordinal(day: int) -> str:
    return "th" if 10 <= day % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")


class Varier:
    """Varies one call the way real traffic varies it; see the module docstring."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.names_swapped = self.numbers = self.dates = self.wording = 0

    def _number(self, text: str) -> str:
        rng = self.rng
        whole, _, frac = text.partition(".")
        if len(whole) == 1:
            digits = whole if whole == "0" else str(rng.randint(1, 9))
        else:
            head = "0" if whole[0] == "0" else str(rng.randint(1, 9))
            digits = head + "".join(str(rng.randint(0, 9)) for _ in range(len(whole) - 1))
        if frac:
            digits += "." + "".join(str(rng.randint(0, 9)) for _ in frac)
        self.numbers += 1
        return digits

    def _shift(self, day: date) -> date:
        self.dates += 1
        return day + timedelta(days=self.rng.randint(-365, 365))

    def _replace(self, m: re.Match[str]) -> str:
        kind, text = m.lastgroup, m.group(0)
        try:
            if kind == "iso":
                y, mo, d = (int(v) for v in text.split("-"))
                return self._shift(date(y, mo, d)).isoformat()
            if kind in ("mdy", "dmy"):
                p = _PARTS.fullmatch(text)
                if p is None:
                    return text
                if kind == "mdy":
                    day = self._shift(date(int(p.group(5)), MONTHS.index(p.group(1)) + 1, int(p.group(2))))
                    suffix = _ordinal(day.day) if p.group(3) else ""
                    return f"{MONTHS[day.month - 1]} {day.day}{suffix}{p.group(4)} {day.year}"
                day = self._shift(date(int(p.group(8)), MONTHS.index(p.group(7)) + 1, int(p.group(6))))
                return f"{day.day} {MONTHS[day.month - 1]} {day.year}"
            if kind == "md":
                p = _MONTH_DAY.fullmatch(text)
                if p is None:
                    return text
                day = self._shift(date(2024, MONTHS.index(p.group(1)) + 1, int(p.group(2))))
                return f"{MONTHS[day.month - 1]} {day.day}{_ordinal(day.day) if p.group(3) else ''}"
        except ValueError:
            return text
        if kind == "run":  # phones and cards stay valid; short runs like "2400 / 3" are numbers
            if sum(c.isdigit() for c in text) >= 9:
                return text
            return _NUM.sub(lambda n: self._number(n.group(0)), text)
        if kind == "time":
            self.dates += 1
            hour = int(text.split(":")[0])
            hour = self.rng.randint(1, 12) if 1 <= hour <= 12 else self.rng.randint(0, 23)
            parts = [str(hour).zfill(len(text.split(":")[0]))]
            parts += [f"{self.rng.choice((0, 15, 30, 45)):02d}"] + (["00"] if text.count(":") == 2 else [])
            return ":".join(parts)
        if kind == "num":
            if text.isdigit() and 1900 <= int(text) <= 2099:  # a year
                self.dates += 1
                return str(int(text) + self.rng.randint(-5, 5))
            return self._number(text)
        if kind in ("first", "last"):
            self.names_swapped += 1
            return self.rng.choice(FIRST_NAMES if kind == "first" else LAST_NAMES)
        return text  # e-mails and IBANs

    def text(self, text: str) -> str:
        return _VALUES.sub(self._replace, text)

    def reword(self, text: str) -> str:
        rng = self.rng
        self.wording += 1
        if rng.random() < 2 / 3:
            prefix, suffix = rng.choice(POLITE)
            first = text[:1].lower() if prefix.endswith(", ") else text[:1]
            return f"{prefix}{first}{text[1:]}{suffix}"
        words = text.split(" ")
        at = rng.randint(1, max(1, len(words) - 1))
        return " ".join([*words[:at], rng.choice(FILLERS), *words[at:]])

    def call(self, base: bytes, new_id: str) -> tuple[dict[str, Any], str]:
        """A varied copy of one serialised sample record (the product's record, task/source dropped)
        and its true task."""
        record = orjson.loads(base)
        task = record["task"]
        for name in DROPPED_FIELDS:
            record.pop(name, None)
        record["id"] = new_id
        messages = record["request"]["messages"]
        last_user = max((i for i, m in enumerate(messages) if m.get("role") == "user"), default=None)
        for i, m in enumerate(messages):
            if m.get("role") in ("system", "developer") or not isinstance(m.get("content"), str):
                continue
            m["content"] = self.text(m["content"])
            if i == last_user and self.rng.random() < 0.5:
                m["content"] = self.reword(m["content"])
        response = record.get("response")
        if isinstance(response, dict) and isinstance(response.get("content"), str):
            response["content"] = self.text(response["content"])
        return record, task


def varied_calls(
    sample: list[dict[str, Any]], n: int, tag: str, varier: Varier, truth: dict[str, str]
) -> Iterator[dict[str, Any]]:
    bases = [orjson.dumps(r) for r in sample]
    for i in range(n):
        j = i % len(bases)
        record, task = varier.call(bases[j], f"{sample[j]['id']}-{tag}{i}")
        truth[record["id"]] = task
        yield record


# --- product steps ---------------------------------------------------------------------------------


def ingest(project: Any, records: Iterator[dict[str, Any]], total: int, label: str) -> float:
    from apps.calls.ingest import Batch
    from apps.calls.services import PriceBook, calls_ingest

    prices = PriceBook()
    accepted = rejected = done = 0
    started = time.perf_counter()
    batch: list[dict[str, Any]] = []

    def flush() -> None:
        nonlocal accepted, rejected, done
        result = calls_ingest(project=project, batch=Batch(records=list(enumerate(batch)), broken=[]), prices=prices)
        accepted, rejected = accepted + result.accepted, rejected + result.rejected_count
        before, done = done, done + len(batch)
        batch.clear()
        if done // 10_000 > before // 10_000 or done == total:
            elapsed = time.perf_counter() - started
            say(f"  {label}: {done:>9,} / {total:,} calls  {elapsed:6.1f}s  {done / elapsed:>7,.0f} calls/s")

    for record in records:
        batch.append(record)
        if len(batch) >= BATCH:
            flush()
    if batch:
        flush()
    seconds = time.perf_counter() - started
    if rejected or accepted != total:
        raise SystemExit(f"ingest stored {accepted:,} of {total:,} calls ({rejected:,} rejected)")
    return seconds


def call_labels(project_id: Any) -> dict[str, str]:
    """client id -> the task the product put the call in, "none" when it fits no task."""
    from apps.calls.models import Call

    rows = Call.objects.filter(project_id=project_id).values_list("client_id", "task_cluster_id")
    return {str(cid): str(cluster) if cluster else "none" for cid, cluster in rows.iterator(chunk_size=20_000)}


def scores(truth: dict[str, str], labels: dict[str, str]) -> tuple[float, float]:
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    ids = sorted(truth)
    t, p = [truth[i] for i in ids], [labels.get(i, "none") for i in ids]
    return adjusted_rand_score(t, p), normalized_mutual_info_score(t, p)


def purity_table(truth: dict[str, str], labels: dict[str, str], names: dict[str, str]) -> None:
    """Per true task: the cluster holding most of its calls, the share it holds, and that cluster's purity."""
    by_task: dict[str, Counter[str]] = defaultdict(Counter)
    by_cluster: dict[str, Counter[str]] = defaultdict(Counter)
    for cid, task in truth.items():
        label = labels.get(cid, "none")
        by_task[task][label] += 1
        by_cluster[label][task] += 1
    say(f"  {'true task':<26}{'calls':>6}  {'main cluster':<34}{'share':>7}{'purity':>8}{'clusters':>9}")
    for task in sorted(by_task):
        counter = by_task[task]
        label, n = counter.most_common(1)[0]
        size = sum(counter.values())
        purity = by_cluster[label][task] / sum(by_cluster[label].values())
        name = names.get(label, label)[:32]
        say(f"  {task:<26}{size:>6}  {name:<34}{n / size:>7.3f}{purity:>8.3f}{len(counter):>9}")


def cluster_names(project_id: Any) -> dict[str, str]:
    from apps.discovery.models import TaskCluster

    rows = TaskCluster.objects.filter(project_id=project_id).values_list("id", "number", "name")
    return {str(i): f"T{n} {name}" for i, n, name in rows} | {"none": "(fits no task)"}


# --- CPU accounting from /proc (Linux): was the machine ours while a run was timed? ------------------

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def machine_busy() -> float | None:
    """CPU seconds the whole machine has spent busy (user, nice, system, irq, softirq)."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) / _TICK for x in f.readline().split()[1:8]]
    except OSError:
        return None
    return v[0] + v[1] + v[2] + v[5] + v[6]


def proc_cpu(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            rest = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(rest[11]) + int(rest[12])) / _TICK


class BackendCpu:
    """CPU of this database's Postgres backends (when the server runs here), sampled while a run goes:
    a backend that ends between samples loses at most its last interval."""

    def __init__(self) -> None:
        self.start: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.first = True

    def sample(self) -> None:
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
            pids = [row[0] for row in cursor.fetchall()]
        for pid in pids:
            cpu = proc_cpu(pid)
            if cpu is None:
                continue
            if self.first:
                self.start[pid] = cpu
            self.last[pid] = cpu
        self.first = False

    @property
    def seconds(self) -> float:
        return sum(cpu - self.start.get(pid, 0.0) for pid, cpu in self.last.items())


# --- one discovery run in a child process -----------------------------------------------------------


class Stopwatch:
    """Wraps product functions in the child and adds up their time (no change to the product code)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def wrap(self, owner: Any, attrs: str, name: str) -> None:
        """`attrs`: the function's name, or names separated by "|" when it has been renamed."""
        attr = next((a for a in attrs.split("|") if callable(getattr(owner, a, None))), None)
        if attr is None:
            say(f"  (bench: {getattr(owner, '__name__', owner)}.{attrs} not found; '{name}' is not measured)")
            return
        original = getattr(owner, attr)
        self.seconds[name] = 0.0

        def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds[name] += time.perf_counter() - t0

        setattr(owner, attr, timed)


def child(run_id: str, out: str) -> None:
    import django

    django.setup()
    import hdbscan

    import workers.jobs.clustering as clustering
    import workers.jobs.embedding as embedding
    from apps.discovery import describe, features, pipeline

    watch = Stopwatch()
    watch.wrap(pipeline, "task_keys_ensure", "read new calls + texts + embed (task_keys_ensure)")
    watch.wrap(features, "_store_embeddings", "  cache lookup + embed + cache insert")
    watch.wrap(embedding, "embed", "    embed (MiniLM, incl. model load)")
    watch.wrap(pipeline, "call_vectors", "feature vectors (cache read + combine)")
    watch.wrap(clustering, "_pca", "PCA")
    watch.wrap(hdbscan.HDBSCAN, "fit_predict", "HDBSCAN")
    watch.wrap(clustering, "assign", "nearest-centre assignment")
    watch.wrap(clustering, "_reduce", "map (UMAP to 2-d)")
    watch.wrap(pipeline, "write_assignments|_write_assignments", "write assignments")
    watch.wrap(describe, "clusters_describe_compute", "describe tasks")
    t0 = time.perf_counter()
    pipeline.discovery_run_execute(run_id=run_id)
    seconds = time.perf_counter() - t0
    usage = resource.getrusage(resource.RUSAGE_SELF)
    Path(out).write_text(
        json.dumps(
            {
                "execute_s": seconds,
                "peak_kib": usage.ru_maxrss,
                "cpu_s": usage.ru_utime + usage.ru_stime,
                "detail": watch.seconds,
            }
        )
    )


def discovery(project: Any, label: str) -> dict[str, Any]:
    """One discovery run in a child process; prints its stage and message while it runs."""
    from apps.discovery.models import DiscoveryRun

    run = DiscoveryRun.objects.create(project=project)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        cmd = [sys.executable, str(Path(__file__).resolve()), "--child-run", str(run.id), "--child-out", str(out)]
        backends = BackendCpu()
        backends.sample()
        busy_before = machine_busy()
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=ROOT)
        shown, shown_at = ("", ""), 0.0
        while proc.poll() is None:
            time.sleep(2)
            backends.sample()
            row = DiscoveryRun.objects.filter(id=run.id).values_list("stage", "message").first()
            now = time.perf_counter()
            if row and row != shown and (row[0] != shown[0] or now - shown_at >= 15):
                say(f"  {label} {now - started:6.1f}s  [{row[0] or 'starting'}] {row[1]}")
                shown, shown_at = row, now
        wall = time.perf_counter() - started
        busy_after = machine_busy()
        run.refresh_from_db()
        if proc.returncode != 0 or run.status != "succeeded" or not out.exists():
            raise SystemExit(f"discovery run failed (exit {proc.returncode}, status {run.status}): {run.error}")
        result = json.loads(out.read_text())
    busy = busy_after - busy_before if busy_before is not None and busy_after is not None else None
    result |= {"wall_s": wall, "run": run, "postgres_cpu_s": backends.seconds, "machine_busy_s": busy}
    return result


def print_run(result: dict[str, Any]) -> None:
    run = result["run"]
    say(
        f"  run: {result['execute_s']:.1f}s (discovery_run_execute; child process {result['wall_s']:.1f}s with "
        f"start-up), peak RSS {result['peak_kib'] / 1024**2:.2f} GiB"
    )
    wall, cores = result["wall_s"], os.cpu_count() or 1
    if result["machine_busy_s"] is not None:
        other = max(result["machine_busy_s"] - result["cpu_s"] - result["postgres_cpu_s"], 0.0)
        say(
            f"  CPU over {wall:.0f}s ({cores} cores): discovery process {result['cpu_s']:.0f}s, its Postgres "
            f"backends {result['postgres_cpu_s']:.0f}s, everything else {other:.0f}s; machine "
            f"{result['machine_busy_s'] / wall:.2f} cores busy"
        )
        if other > 0.1 * wall * cores:
            say("  NOTE: other processes were busy on this machine during this run; its times are inflated")
    say(f"  stage timings (DiscoveryRun.timings): {json.dumps(run.timings)}")
    say("  detail (wrapped product functions, seconds):")
    for name, seconds in result["detail"].items():
        say(f"    {name:<54}{seconds:>8.1f}")
    say(
        f"  calls {run.calls_total:,}, distinct call vectors {run.texts_total:,}, texts embedded "
        f"{run.texts_embedded:,}, clusters {run.clusters_found}, calls fitting no task {run.unassigned:,}"
    )


EXERCISED = ("apps/calls", "apps/curation", "apps/discovery", "apps/jobs")


def code_state() -> tuple[str, str]:
    """The commit, and a hash of the Python sources this bench exercises (ingest, curation, discovery,
    jobs, embedding, clustering) as they are on disk, to catch edits made while it runs."""
    import hashlib

    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    digest = hashlib.sha256()
    paths = [p for folder in EXERCISED for p in sorted((ROOT / folder).rglob("*.py"))]
    paths += [ROOT / "workers" / "jobs" / "embedding.py", ROOT / "workers" / "jobs" / "clustering.py"]
    for path in paths:
        if path.exists():
            digest.update(str(path).encode() + b"\0" + path.read_bytes())
    return head.stdout.strip() or "?", digest.hexdigest()[:12]


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


# --- the two parts ----------------------------------------------------------------------------------


def quality(stamp: str) -> list[bool]:
    from apps.calls.services import calls_import_file
    from apps.projects.models import Project
    from apps.projects.services import project_create

    sample = load_sample()
    truth = {r["id"]: r["task"] for r in sample}
    say(f"\n1. Quality on the shipped sample: {len(sample):,} calls, {len(set(truth.values()))} true tasks")
    project = project_create(slug=f"bench-disc-quality-{stamp}")
    t0 = time.perf_counter()
    imported = calls_import_file(project=project, path=SAMPLE)
    import_s = time.perf_counter() - t0
    say(f"  imported {imported.accepted:,} calls (calls_import_file, PII redaction on) in {import_s:.1f}s")
    result = discovery(project, "discovery")
    print_run(result)
    labels = call_labels(project.id)
    ari, nmi = scores(truth, labels)
    say(f"  product: ARI {ari:.3f}, NMI {nmi:.3f}, {len(set(labels.values()) - {'none'})} clusters used")
    purity_table(truth, labels, cluster_names(project.id))
    Project.objects.filter(id=project.id).delete()

    say("\n  baseline (BERTopic-style: raw last user turn, MiniLM, UMAP 5-d, HDBSCAN)")
    import hdbscan
    import umap

    from workers.jobs.embedding import _model, embed

    texts = [last_user_turn(r) for r in sample]
    t0 = time.perf_counter()
    _model()
    load_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    x = embed(texts)
    embed_s = time.perf_counter() - t0
    say(f"  embedded {len(texts):,} texts in {embed_s:.1f}s (model load {load_s:.1f}s, not counted)")
    t0 = time.perf_counter()
    reduced = umap.UMAP(n_neighbors=15, n_components=5, min_dist=0.0, metric="cosine", random_state=42).fit_transform(x)
    umap_s = time.perf_counter() - t0
    say(f"  UMAP in {umap_s:.1f}s")
    t0 = time.perf_counter()
    base = hdbscan.HDBSCAN(min_cluster_size=10, metric="euclidean", cluster_selection_method="eom").fit_predict(reduced)
    hdb_s = time.perf_counter() - t0
    base_labels = {r["id"]: str(int(label)) for r, label in zip(sample, base, strict=True)}
    b_ari, b_nmi = scores(truth, base_labels)
    b_k = len(set(base_labels.values()) - {"-1"})
    noise = sum(1 for v in base_labels.values() if v == "-1")
    say(
        f"  baseline: ARI {b_ari:.3f}, NMI {b_nmi:.3f}, {b_k} clusters, {noise:,} noise calls; "
        f"{embed_s + umap_s + hdb_s:.1f}s (embed {embed_s:.1f}s, UMAP {umap_s:.1f}s, HDBSCAN {hdb_s:.1f}s)"
    )
    purity_table(truth, base_labels, {"-1": "(noise)"})

    say("\n  Result, quality")
    say(f"    product  ARI {ari:.3f}  NMI {nmi:.3f}  ({result['execute_s']:.1f}s, cold cache, model load included)")
    say(f"    baseline ARI {b_ari:.3f}  NMI {b_nmi:.3f}  ({embed_s + umap_s + hdb_s:.1f}s, model load excluded)")
    checks = [ari >= TARGET_ARI, ari > b_ari]
    say(f"    target product ARI >= {TARGET_ARI}:      {verdict(checks[0])} ({ari:.3f})")
    say(f"    target product ARI > baseline:   {verdict(checks[1])} ({ari:.3f} vs {b_ari:.3f})")
    return checks


def scale(args: argparse.Namespace, stamp: str) -> list[bool]:
    from apps.discovery.models import TaskEmbedding
    from apps.projects.models import Project
    from apps.projects.services import project_create

    sample = load_sample()
    more = max(1, round(args.scale * args.more))
    say(f"\n2. Scale: {args.scale:,} varied calls, then {more:,} more")
    project = project_create(slug=f"bench-disc-scale-{stamp}")
    truth: dict[str, str] = {}
    varier = Varier(args.seed)
    ingest_s = ingest(project, varied_calls(sample, args.scale, "s", varier, truth), args.scale, "ingested")
    say(
        f"  ingest: {args.scale:,} calls in {ingest_s:.1f}s = {args.scale / ingest_s:,.0f} calls/s "
        f"(calls_ingest, batches of {BATCH:,}, PII redaction on); varied: {varier.numbers:,} numbers, "
        f"{varier.dates:,} dates, {varier.names_swapped:,} names, {varier.wording:,} user turns reworded"
    )
    cached, _ = TaskEmbedding.objects.all().delete()
    say(f"  embedding cache emptied ({cached:,} vectors from part 1 removed): the first run is cold")

    first = discovery(project, "first run")
    print_run(first)
    ari, nmi = scores(truth, call_labels(project.id))
    say(f"  first run: ARI {ari:.3f}, NMI {nmi:.3f} against the replicated truth")

    ingest_more_s = ingest(project, varied_calls(sample, more, "m", varier, truth), more, "ingested more")
    say(f"  ingest: {more:,} more calls in {ingest_more_s:.1f}s")
    second = discovery(project, "re-run")
    print_run(second)
    ari2, nmi2 = scores(truth, call_labels(project.id))
    say(f"  re-run: ARI {ari2:.3f}, NMI {nmi2:.3f} against the replicated truth")
    Project.objects.filter(id=project.id).delete()

    t1, t2 = first["execute_s"], second["execute_s"]
    peak = first["peak_kib"] / 1024**2
    ratio = t2 / t1
    say("\n  Result, scale")
    say(f"    ingest {args.scale:,} calls                {ingest_s:8.1f}s")
    say(
        f"    first run, {args.scale:,} calls          {t1:8.1f}s  peak {peak:.2f} GiB  "
        f"ARI {ari:.3f} NMI {nmi:.3f}  {first['run'].texts_embedded:,} texts embedded"
    )
    say(
        f"    re-run, +{more:,} calls              {t2:8.1f}s  peak {second['peak_kib'] / 1024**2:.2f} GiB  "
        f"ARI {ari2:.3f} NMI {nmi2:.3f}  {second['run'].texts_embedded:,} texts embedded"
    )
    checks = [t1 <= TARGET_FIRST_S, peak <= TARGET_PEAK_GIB, ratio <= TARGET_RERUN_RATIO]
    say(f"    target first run <= {TARGET_FIRST_S:.0f} s:        {verdict(checks[0])} ({t1:.1f}s)")
    say(f"    target first run peak <= {TARGET_PEAK_GIB:.0f} GiB:    {verdict(checks[1])} ({peak:.2f} GiB)")
    say(f"    target re-run <= 1/5 of first:   {verdict(checks[2])} (ratio {ratio:.2f})")
    return checks


def main() -> int:
    args = parse_args()
    if args.child_run:
        child(args.child_run, args.child_out)
        return 0
    url = bench_url(os.environ["DATABASE_URL"])
    os.environ["DATABASE_URL"] = url  # the child processes and Django use the throwaway database
    parts = urlsplit(url)
    say(f"database {parts.path.lstrip('/')} on {parts.hostname}:{parts.port or 5432} (created for this run)")
    t0 = time.perf_counter()
    db_create(url)
    say(f"  migrated in {time.perf_counter() - t0:.1f}s")
    import django

    django.setup()
    from apps.calls.signals import calls_stored

    calls_stored.disconnect(dispatch_uid="discovery.assign")
    stamp = time.strftime("%Y%m%d%H%M%S") + f"-{os.getpid()}"
    commit, sources = code_state()
    now = time.strftime("%Y-%m-%d %H:%M")
    say(f"product code: commit {commit}, exercised sources {sources}; {os.cpu_count()} cores; {now}")
    started = time.perf_counter()
    try:
        checks = quality(stamp)
        if not args.skip_scale:
            checks += scale(args, stamp)
    finally:
        if args.keep_db:
            say(f"\nkept database {parts.path.lstrip('/')}")
        else:
            db_drop(url)
            say(f"\ndropped database {parts.path.lstrip('/')}")
    if code_state()[1] != sources:
        say("WARNING: the exercised sources changed on disk during this run; the runs may have measured different code")
    say(f"total {time.perf_counter() - started:.0f}s; {sum(checks)} of {len(checks)} targets met")
    return 2 if args.strict and not all(checks) else 0


if __name__ == "__main__":
    sys.exit(main())
