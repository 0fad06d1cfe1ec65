"""The scanner: a project's policy applied to strings and whole calls.

Agent logs repeat themselves (the same system prompt and tool schemas on every call), so each
distinct string is analysed once (a content-hash cache). Strings with no digit, '@' or token
marker cannot hold a pattern type, so only the name recognizer runs on them, not presidio.

Cost is linear in a text's length: a text longer than WINDOW_CHARS is analysed in windows of that
size, each reaching OVERLAP_CHARS into its neighbours, and a finding belongs to the window it starts
in. So a recognizer that is slow on long input (a regex that backtracks, phonenumbers, an NER model)
only ever sees WINDOW_CHARS + 2 x OVERLAP_CHARS characters, while every character of the text is
scanned: a finding up to OVERLAP_CHARS long is found whole wherever the windows are cut. A text
longer than MAX_TEXT_CHARS is refused (TextTooLong): ingestion rejects such a call rather than store
it unredacted.
"""

import hashlib
import json
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from presidio_analyzer import EntityRecognizer, RecognizerResult

from apps.common.errors import TooLarge
from apps.curation import operators
from apps.curation.pii import (
    DEFAULT_ENTITY_TYPES,
    DEFAULT_THRESHOLD,
    ENTITY_TYPES,
    SECRET_FIELD,
    Finding,
    PersonNameRecognizer,
    _resolve,
    build_engine,
)

# A pattern type needs one of these; anything else can only hold a name.
_ENGINE_NEEDED = re.compile(r"[\d@]|bearer|private key|sk-|gh[pousr]_|xox[abpors]-|AKIA|ASIA|AIza|eyJ", re.I)
NER_TYPES = ("PERSON", "LOCATION", "ORGANIZATION")
WINDOW_CHARS = 20_000
OVERLAP_CHARS = 2_000
MAX_TEXT_CHARS = 10_000_000


class TextTooLong(TooLarge):
    """A text past MAX_TEXT_CHARS: it is not scanned, so it must not be stored."""

    def __init__(self, length: int) -> None:
        super().__init__(
            f"A text of {length:,} characters is over the limit of {MAX_TEXT_CHARS:,} characters that are "
            "scanned for personal data before a call is stored; shorten or split it"
        )
        self.length = length


def text_too_long(value: Any, where: str = "") -> str | None:
    """Where in JSON-like data the first string past MAX_TEXT_CHARS is (a path such as
    "request.messages[1].content"), or None: ingestion's per-call check."""
    stack: list[tuple[str, Any]] = [(where, value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str):
            if len(item) > MAX_TEXT_CHARS:
                return path
        elif isinstance(item, dict):
            stack.extend((f"{path}.{k}" if path else str(k), v) for k, v in reversed(item.items()))
        elif isinstance(item, list):
            stack.extend((f"{path}[{i}]", v) for i, v in reversed(list(enumerate(item))))
    return None


@dataclass(frozen=True)
class CustomPattern:
    entity: str
    pattern: str
    score: float = 0.8


@dataclass(frozen=True)
class PolicySpec:
    """Everything the scanner needs from a project's policy, as plain values (no database)."""

    thresholds: Mapping[str, float] = field(
        default_factory=lambda: dict.fromkeys(DEFAULT_ENTITY_TYPES, DEFAULT_THRESHOLD)
    )
    allow_list: tuple[str, ...] = ()
    custom: tuple[CustomPattern, ...] = ()
    operator: str = "replace"
    key: bytes = b""
    ner_model_path: str = ""


@dataclass
class Tally:
    """What a call's redaction found: counts by type, and by the field it was in (never values)."""

    types: Counter[str] = field(default_factory=Counter)
    fields: Counter[str] = field(default_factory=Counter)

    def add(self, entity: str, where: str) -> None:
        self.types[entity] += 1
        self.fields[where] += 1


class PiiScanner:
    def __init__(self, spec: PolicySpec | None = None, *, cache_size: int = 200_000) -> None:
        self.spec = spec or PolicySpec()
        self.thresholds = dict(self.spec.thresholds)
        self.pattern_entities = [e for e in self.thresholds if e in ENTITY_TYPES and e != "PERSON"]
        for custom in self.spec.custom:  # a custom type is on by being there; its score is its own
            self.thresholds.setdefault(custom.entity, 0.0)
        self.allow_list = {a.strip().lower() for a in self.spec.allow_list if a.strip()}
        self.engine = build_engine()
        self.names = PersonNameRecognizer() if "PERSON" in self.spec.thresholds else None
        self.custom = [(c.entity, re.compile(c.pattern), c.score) for c in self.spec.custom]
        self.ner: EntityRecognizer | None = None
        if self.spec.ner_model_path:
            from apps.curation.ner import ner_recognizer_load

            self.ner = ner_recognizer_load(self.spec.ner_model_path)
        self.cache: dict[bytes, list[Finding]] = {}
        self.cache_size = cache_size
        self.analysed = 0

    def _analyse(self, text: str) -> list[RecognizerResult]:
        results: list[RecognizerResult] = []
        if self.pattern_entities and _ENGINE_NEEDED.search(text):
            results += self.engine.analyze(text, self.pattern_entities)
        if self.names is not None:
            results += self.names.analyze(text, ["PERSON"], None)
        for entity, regex, score in self.custom:
            results += [RecognizerResult(entity, m.start(), m.end(), score) for m in regex.finditer(text) if m.group()]
        if self.ner is not None:
            wanted = [e for e in NER_TYPES if e in self.thresholds]
            results += self.ner.analyze(text, wanted, None) if wanted else []  # type: ignore[arg-type]
        return [r for r in results if r.score >= self.thresholds.get(r.entity_type, 1.1)]

    def _analyse_windows(self, text: str) -> list[RecognizerResult]:
        """_analyse on a text of any length, one window at a time (see the module's docstring)."""
        if len(text) <= WINDOW_CHARS + 2 * OVERLAP_CHARS:
            return self._analyse(text)
        results: list[RecognizerResult] = []
        for start in range(0, len(text), WINDOW_CHARS):
            low, end = max(0, start - OVERLAP_CHARS), start + WINDOW_CHARS
            for r in self._analyse(text[low : end + OVERLAP_CHARS]):
                if start <= r.start + low < end:
                    results.append(RecognizerResult(r.entity_type, r.start + low, r.end + low, r.score))
        return results

    def findings(self, text: str) -> list[Finding]:
        if not text or text.isspace():
            return []
        if len(text) > MAX_TEXT_CHARS:
            raise TextTooLong(len(text))
        key = hashlib.blake2b(text.encode(), digest_size=16).digest()
        found = self.cache.get(key)
        if found is None:
            self.analysed += 1
            found = [
                f
                for f in _resolve(self._analyse_windows(text))
                if text[f.start : f.end].strip().lower() not in self.allow_list
            ]
            if len(self.cache) >= self.cache_size:
                self.cache.clear()
            self.cache[key] = found
        return found

    def replacement(self, entity: str, value: str) -> str:
        if self.spec.operator == "mask":
            return operators.mask(value)
        if self.spec.operator == "pseudonymise":
            return operators.pseudonym(entity, value, self.spec.key)
        return operators.tag(entity)

    def redact_text(self, text: str, tally: Tally, where: str = "text") -> str:
        found = self.findings(text)
        if not found:
            return text
        parts, position = [], 0
        for f in found:
            parts += [text[position : f.start], self.replacement(f.entity_type, text[f.start : f.end])]
            tally.add(f.entity_type, where)
            position = f.end
        parts.append(text[position:])
        return "".join(parts)

    def redact_value(self, value: Any, tally: Tally, where: str, *, key: str = "") -> Any:
        """Walk JSON-like data; strings are redacted, values of secret-named keys are replaced."""
        if isinstance(value, str):
            label = f"{where}.{key}" if key else where
            if key and SECRET_FIELD.search(key) and value and "SECRET" in self.thresholds:
                tally.add("SECRET", label)
                return self.replacement("SECRET", value)
            return self.redact_text(value, tally, label)
        if isinstance(value, dict):
            return {k: self.redact_value(v, tally, where, key=str(k)) for k, v in value.items()}
        if isinstance(value, list):
            return [self.redact_value(v, tally, where, key=key) for v in value]
        return value

    def redact_json_string(self, text: str, tally: Tally, where: str) -> str:
        """Tool-call arguments and tool results: redact inside the JSON and keep it valid JSON."""
        try:
            parsed = json.loads(text)
        except (ValueError, TypeError):
            return self.redact_text(text, tally, where)
        if not isinstance(parsed, dict | list):
            return self.redact_text(text, tally, where)
        return json.dumps(self.redact_value(parsed, tally, where), ensure_ascii=False)

    def _redact_message(self, message: Any, tally: Tally, where: str | None = None) -> Any:
        if not isinstance(message, dict):
            return self.redact_value(message, tally, where or "message")
        role = str(message.get("role") or "message")
        where = where or f"{role} message"
        out = dict(message)
        content = message.get("content")
        if isinstance(content, str):
            is_tool = role in ("tool", "function")
            out["content"] = (
                self.redact_json_string(content, tally, "tool result")
                if is_tool
                else self.redact_text(content, tally, where)
            )
        elif content is not None:
            out["content"] = self.redact_value(content, tally, where)
        if isinstance(message.get("tool_calls"), list):
            calls = []
            for call in message["tool_calls"]:
                call = dict(call) if isinstance(call, dict) else call
                fn = call.get("function") if isinstance(call, dict) else None
                if isinstance(fn, dict) and isinstance(fn.get("arguments"), str):
                    arguments = self.redact_json_string(fn["arguments"], tally, "tool-call arguments")
                    call["function"] = {**fn, "arguments": arguments}
                calls.append(call)
            out["tool_calls"] = calls
        return out

    def redact_call(
        self, *, request: dict[str, Any], response: dict[str, Any] | None, metadata: dict[str, Any]
    ) -> tuple[dict[str, Any], dict[str, Any] | None, dict[str, Any], Tally]:
        """Every string an agent can leak through: message text and parts, tool-call arguments, tool
        results, the response, and metadata values. Tool schemas and parameters are left as they are."""
        tally = Tally()
        request = dict(request)
        if isinstance(request.get("messages"), list):
            request["messages"] = [self._redact_message(m, tally) for m in request["messages"]]
        new_response = self._redact_message(response, tally, "response") if response is not None else None
        new_metadata = self.redact_value(metadata, tally, "metadata")
        return request, new_response, new_metadata, tally
