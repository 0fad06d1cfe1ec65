"""JSON answers: two answers agree when their parsed values are equal as JSON values (see jsonvalues:
1 == 1.0, key order irrelevant, true != 1, strings exact, list order counts).

Parsing tolerates what models wrap around JSON: a ```json fence, and prose before or after the value.
Such an answer agrees, but a caller that runs json.loads() on the raw answer would fail on it, so each
call also says whether it is JSON as it stands ("strict").
Besides agreement each call reports whether the output parsed, whether it is valid (against the
request's JSON schema when there is one, else: the same JSON type as the reference and, for objects,
the same top-level keys), and field-level counts over flattened key paths (a field is right when the
output has the reference's value at the same path), for precision, recall and F1.
"""

import re
from collections.abc import Sequence
from typing import Any

from apps.evaluation.scoring.jsonvalues import (
    canonical_text,
    flatten,
    generalise,
    json_type,
    loads,
    raw_decode,
    schema_errors,
)
from apps.evaluation.scoring.result import CallScore, call_score, f1, ratio

INVALID_JSON = "invalid JSON"
REFERENCE_NOT_JSON = "reference is not JSON"
# Where no clean parse works, JSON is looked for at this many "{" / "[" positions at most.
MAX_STARTS = 20
_FENCE = re.compile(r"```[ \t]*(?:json)?[ \t]*\n?(.*?)```", re.S | re.I)
_START = re.compile(r"[{\[]")


def parse_json(text: Any) -> tuple[bool, Any]:
    """(parsed?, value). In order: the whole text; the inside of the first ``` fence; else the longest
    JSON object or array that starts at one of the first MAX_STARTS "{" or "[" (prose around it is
    ignored; with several values in the prose, the longest wins). An already parsed dict or list is
    taken as it is. Known limit: a bare scalar inside prose is not found."""
    if isinstance(text, dict | list):
        return True, text
    if not isinstance(text, str):
        return False, None
    stripped = text.strip()
    candidates = [stripped]
    fence = _FENCE.search(stripped)
    if fence:
        candidates.append(fence.group(1).strip())
    for candidate in candidates:
        try:
            return True, loads(candidate)
        except ValueError:
            pass
    best: tuple[int, Any] | None = None
    for number, match in enumerate(_START.finditer(stripped)):
        if number == MAX_STARTS:
            break
        try:
            value, end = raw_decode(stripped, match.start())
        except ValueError:
            continue
        if best is None or end - match.start() > best[0]:
            best = (end - match.start(), value)
    return (True, best[1]) if best else (False, None)


def _same_shape(reference: Any, output: Any) -> bool:
    """Validity without a schema: the reference's JSON type and, for an object, its top-level keys."""
    if json_type(reference) != json_type(output):
        return False
    return not isinstance(reference, dict) or set(reference) == set(output)


def _strict(output: Any) -> bool:
    """Whether the answer is JSON as it stands (no fence, no prose): what a caller's json.loads() needs."""
    if not isinstance(output, str):
        return isinstance(output, dict | list)
    try:
        loads(output)
    except ValueError:
        return False
    return True


def _field_failures(reference: dict[str, str], output: dict[str, str]) -> list[str]:
    failures = [f"missing key {generalise(path)}" for path in reference if path not in output]
    failures += [
        f"wrong value at {generalise(path)}"
        for path, value in reference.items()
        if path in output and output[path] != value
    ]
    return failures + [f"extra key {generalise(path)}" for path in output if path not in reference]


def score_json(reference: Any, output: Any, *, json_schema: dict[str, Any] | None = None) -> CallScore:
    """Agreement is exact match of the parsed values. A reference that is not JSON is a data problem: the
    call then agrees only when both answers are the same text, and it is left out of the field counts."""
    ref_ok, ref = parse_json(reference)
    out_ok, out = parse_json(output)
    if not ref_ok:
        same = isinstance(reference, str) and isinstance(output, str) and reference.split() == output.split()
        return call_score([] if same else [REFERENCE_NOT_JSON], parsed=out_ok, strict=_strict(output), scored=False)
    ref_fields = flatten(ref)
    if not out_ok:
        return call_score(
            [INVALID_JSON],
            parsed=False,
            strict=False,
            schema_valid=False,
            field_tp=0,
            field_output=0,
            field_reference=len(ref_fields),
            scored=True,
        )
    errors = schema_errors(out, json_schema) if json_schema is not None else None
    out_fields = flatten(out)
    if canonical_text(ref) == canonical_text(out):
        failures = []
    else:  # "$" when only a key containing "." tells them apart (it flattens like a nested key)
        failures = _field_failures(ref_fields, out_fields) or ["wrong value at $"]
    return call_score(
        failures,
        parsed=True,
        strict=_strict(output),
        schema_valid=not errors if errors is not None else _same_shape(ref, out),
        schema_errors=errors or [],
        field_tp=sum(1 for path, value in out_fields.items() if ref_fields.get(path) == value),
        field_output=len(out_fields),
        field_reference=len(ref_fields),
        scored=True,
    )


def summarise_json(scores: Sequence[CallScore]) -> dict[str, Any]:
    """Rates over all calls (parsed at all, parsed as it stands, exact match = agreement), schema validity
    over the calls whose reference parsed, and field precision, recall and F1 micro-averaged over every
    field of those calls."""
    scored = [s.details for s in scores if s.details.get("scored")]
    true_positive = sum(d["field_tp"] for d in scored)
    precision = ratio(true_positive, sum(d["field_output"] for d in scored))
    recall = ratio(true_positive, sum(d["field_reference"] for d in scored))
    return {
        "parse_rate": ratio(sum(1 for s in scores if s.details.get("parsed")), len(scores)),
        "strict_parse_rate": ratio(sum(1 for s in scores if s.details.get("strict")), len(scores)),
        "schema_valid_rate": ratio(sum(1 for d in scored if d["schema_valid"]), len(scored)),
        "exact_match": ratio(sum(1 for s in scores if s.agree), len(scores)),
        "field_precision": precision,
        "field_recall": recall,
        "field_f1": f1(precision, recall),
        "unscored_calls": len(scores) - len(scored),
    }
