"""PII benchmark on the shipped sample: recall and precision per planted type, and throughput of
the project's scanner (PiiScanner.redact_call, a content-hash cache) against a naive loop of
AnalyzerEngine.analyze over every string of every call, in one run.

    .venv/bin/python bench/pii.py                 # all 3,000 calls; the naive loop on --naive-calls
    .venv/bin/python bench/pii.py --naive-calls 300

Ground truth: demo/agent_logs_sample.md lists the 150 planted records and which of PERSON, EMAIL,
PHONE, IBAN, CREDIT_CARD each holds (one span of each per record, in one user message). A planted
(record, type) counts as found when the scanner finds that type in the record's user messages.
Precision is measured inside the planted records: a finding of a type the record was not planted
with, or a second finding of a planted type, is a false positive. Findings in other records are
counted and shown apart: the source datasets hold PII-like strings of their own (the .md lists them).
"""

import argparse
import re
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from apps.curation.scanner import PiiScanner, Tally  # noqa: E402

SAMPLE = ROOT / "demo" / "agent_logs_sample.jsonl"
CARD = ROOT / "demo" / "agent_logs_sample.md"
TYPES = {
    "PERSON": "PERSON",
    "EMAIL": "EMAIL_ADDRESS",
    "PHONE": "PHONE_NUMBER",
    "IBAN": "IBAN_CODE",
    "CREDIT_CARD": "CREDIT_CARD",
}
PATTERN_TYPES = ("EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE")
TARGETS = {**dict.fromkeys(PATTERN_TYPES, 0.95), "PERSON": 0.8}


def planted() -> dict[str, set[str]]:
    truth: dict[str, set[str]] = {}
    for line in CARD.read_text().splitlines():
        match = re.match(r"- \*\*([A-Z_+]+)\*\* in `\w+` \(\d+\): (.*)", line)
        if match:
            kinds = {TYPES[k] for k in match.group(1).split("+")}
            for record_id in re.findall(r"`(chatcmpl-[A-Za-z0-9]+)`", match.group(2)):
                truth[record_id] = kinds
    return truth


def user_texts(record: dict[str, Any]) -> list[str]:
    texts = []
    for m in record["request"]["messages"]:
        if m.get("role") == "user" and isinstance(m.get("content"), str):
            texts.append(m["content"])
    return texts


def every_string(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in every_string(v)]
    if isinstance(value, list):
        return [s for v in value for s in every_string(v)]
    return []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--naive-calls", type=int, default=300, help="calls the naive loop analyses (it is slow)")
    args = parser.parse_args()
    records = [orjson.loads(line) for line in SAMPLE.read_bytes().splitlines()]
    truth = planted()
    print(f"sample: {len(records):,} calls, {len(truth)} with planted PII")

    t0 = time.perf_counter()
    scanner = PiiScanner()
    print(f"engine built in {time.perf_counter() - t0:.1f}s")

    # Quality, on the user messages the PII was planted in.
    found_types: dict[str, Counter[str]] = {}
    for r in records:
        tally = Tally()
        for text in user_texts(r):
            scanner.redact_text(text, tally)
        found_types[r["id"]] = tally.types
    print("\nquality (planted spans in user messages)")
    print(
        f"  {'type':<14}{'planted':>8}{'found':>7}{'recall':>8}{'false+':>8}{'precision':>10}{'target':>8}"
        f"{'  elsewhere':>11}"
    )
    ok = True
    for kind in ("EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "PERSON"):
        n = sum(1 for kinds in truth.values() if kind in kinds)
        tp = sum(1 for rid, kinds in truth.items() if kind in kinds and found_types[rid][kind] > 0)
        fp = sum(max(found_types[rid][kind] - (1 if kind in kinds else 0), 0) for rid, kinds in truth.items())
        elsewhere = sum(found_types[r["id"]][kind] for r in records if r["id"] not in truth)
        recall, precision = tp / n, tp / (tp + fp) if tp + fp else 0.0
        verdict = "PASS" if recall >= TARGETS[kind] else "FAIL"
        ok &= verdict == "PASS"
        print(
            f"  {kind:<14}{n:>8}{tp:>7}{recall:>8.3f}{fp:>8}{precision:>10.3f}{TARGETS[kind]:>6.2f} {verdict}"
            f"{elsewhere:>7}"
        )

    # Throughput: the whole call, every string an agent can leak through.
    fresh = PiiScanner()
    t0 = time.perf_counter()
    total: Counter[str] = Counter()
    for r in records:
        *_, tally = fresh.redact_call(request=r["request"], response=r["response"], metadata={})
        total += tally.types
    pipeline_s = time.perf_counter() - t0
    pipeline_rate = len(records) / pipeline_s
    print(
        f"\nthroughput\n  pipeline (PiiScanner.redact_call, cold cache): {len(records):,} calls in {pipeline_s:.1f}s "
        f"= {pipeline_rate:,.0f} calls/s ({fresh.analysed:,} distinct strings analysed)"
    )

    # The naive baseline: presidio's stock recognizers on the same offline tokenizer, every string, no cache.
    import spacy
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_analyzer.nlp_engine import SpacyNlpEngine

    class BlankSpacyNlpEngine(SpacyNlpEngine):
        def load(self) -> None:
            self.nlp = {"en": spacy.blank("en")}  # type: ignore[assignment]

    engine = BlankSpacyNlpEngine(models=[{"lang_code": "en", "model_name": "blank:en"}])
    engine.load()
    registry = RecognizerRegistry(supported_languages=["en"])
    registry.load_predefined_recognizers(languages=["en"], nlp_engine=engine)
    analyzer = AnalyzerEngine(nlp_engine=engine, registry=registry, supported_languages=["en"])
    subset = records[: args.naive_calls]
    t0 = time.perf_counter()
    for i, r in enumerate(subset, 1):
        for text in every_string(r["request"].get("messages")) + every_string(r["response"]):
            analyzer.analyze(text, language="en")
        if i % 100 == 0:
            print(f"  naive loop: {i}/{len(subset)} calls", flush=True)
    naive_s = time.perf_counter() - t0
    naive_rate = len(subset) / naive_s
    print(
        f"  naive loop (AnalyzerEngine.analyze on every string): {len(subset):,} calls in {naive_s:.1f}s "
        f"= {naive_rate:,.1f} calls/s"
    )
    speedup = pipeline_rate / naive_rate
    print(f"  speed-up {speedup:.1f}x (target >= 5x: {'PASS' if speedup >= 5 else 'FAIL'})")
    print(f"\nfindings over all strings of all calls: {dict(total.most_common())}")
    print("recall targets:", "PASS" if ok else "FAIL")


if __name__ == "__main__":
    main()
