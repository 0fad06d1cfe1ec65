"""The scanner: a project's policy applied to strings and whole calls.

Agent logs repeat themselves (the same system prompt and tool schemas on every call), so each
distinct string is analysed once (a content-hash cache). Strings with no digit, '@' or token
marker cannot hold a pattern type, so only the name recognizer runs on them, not presidio.

An NER model (the policy's, see ner.py) reads only the strings that carry what people wrote or what
came back about them: user and assistant turns, tool results, tool-call arguments, the response,
metadata values and error text. It does not read system (or developer) messages: they are the call
site's template, the same on every call, and the text a trained model is prompted with, so a false
finding there would damage every training example. The pattern recognizers and the name recognizer
still read them, so a customer's e-mail, phone number or "Firstname Lastname" that an agent puts into
its system prompt is still removed; a name the name recognizer does not know is not (the miss).
A batch of calls is analysed together (redact_calls): every string is collected first, and the model
reads the new ones in one nlp.pipe batch.

Cost is linear in a text's length: a text longer than WINDOW_CHARS is analysed in windows of that
size, each reaching OVERLAP_CHARS into its neighbours, and a finding belongs to the window it starts
in. So a recognizer that is slow on long input (a regex that backtracks, phonenumbers) only ever
sees WINDOW_CHARS + 2 x OVERLAP_CHARS characters, while every character of the text is scanned: a
finding up to OVERLAP_CHARS long is found whole wherever the windows are cut. The NER model reads
long texts in pieces of at most ner.PIECE_CHARS, cut at line or sentence ends. A text longer than
MAX_TEXT_CHARS is refused (TextTooLong): ingestion rejects such a call rather than store it
unredacted.
"""

import hashlib
import json
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from presidio_analyzer import RecognizerResult

from apps.common.errors import TooLarge
from apps.curation import operators
from apps.curation.ner import DEFAULT_NER_MODEL, NER_ENTITIES, key_context
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
from apps.curation.recognizers.cues import CueRecognizer

# A pattern type needs one of these; anything else can only hold a name.
_ENGINE_NEEDED = re.compile(r"[\d@]|bearer|private key|sk-|gh[pousr]_|xox[abpors]-|AKIA|ASIA|AIza|eyJ", re.I)
NER_TYPES = NER_ENTITIES
# Types found by default: the pattern types, and what the default NER model adds (ORGANIZATION is off
# by default: in agent logs most organisations are vendors and products, not personal data).
DEFAULT_TYPES = (*DEFAULT_ENTITY_TYPES, "LOCATION", "NRP")  # addresses and ZIP codes are opt-in
# Messages that are the call site's template: no NER (see the module's docstring).
TEMPLATE_ROLES = frozenset({"system", "developer"})
# JSON keys whose value is a person's name, whole ("first_name", "customerName", "cardholder"), and the
# values taken for one: a few words, no digits or "@" (an e-mail there is the e-mail recognizer's).
PERSON_FIELD = re.compile(
    r"^(?:[a-z]+_)?(?:first|last|middle|given|family|full|maiden|customer|contact|patient|passenger|card_?holder"
    r"|account_?holder|holder|recipient|sender|guest|billing|shipping|employee|client|legal)_?name$"
    r"|^(?:[a-z]+_)?(?:surname|forename|firstname|lastname|fullname|card_?holder|account_?holder)$"
)
_PERSON_VALUE = re.compile(r"[^\W\d_][^\d@]{0,78}")
WINDOW_CHARS = 20_000
OVERLAP_CHARS = 2_000
MAX_TEXT_CHARS = 10_000_000


@lru_cache(maxsize=4096)
def _normal_key(key: str) -> str:
    """ "customerName", "Customer-Name" and "customer name" alike: "customer_name"."""
    return re.sub(r"[\s\-]+", "_", re.sub(r"([a-z])([A-Z])", r"\1_\2", key.strip())).lower()


@lru_cache(maxsize=4096)
def _key_context(key: str) -> str:
    return key_context(key)


def _is_person_field(key: str, value: str, allow_list: set[str]) -> bool:
    return (
        bool(PERSON_FIELD.match(_normal_key(key)))
        and bool(_PERSON_VALUE.fullmatch(value.strip()))
        and len(value.split()) <= 5
        and value.strip().lower() not in allow_list
    )


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
    """Everything the scanner needs from a project's policy, as plain values (no database). The defaults
    are a new project's policy: ner_model names the NER model (a package or a folder), "" for none."""

    thresholds: Mapping[str, float] = field(default_factory=lambda: dict.fromkeys(DEFAULT_TYPES, DEFAULT_THRESHOLD))
    allow_list: tuple[str, ...] = ()
    custom: tuple[CustomPattern, ...] = ()
    operator: str = "replace"
    key: bytes = b""
    ner_model: str = DEFAULT_NER_MODEL

    def analysis_key(self) -> tuple[Any, ...]:
        """What the findings in a text depend on (not the operator or key, which only shape the
        replacement): scanners with the same analysis key can share one content-hash cache."""
        return (tuple(sorted(self.thresholds.items())), self.allow_list, self.custom, self.ner_model)


@dataclass
class Tally:
    """What a call's redaction found: counts by type, and by the field it was in (never values)."""

    types: Counter[str] = field(default_factory=Counter)
    fields: Counter[str] = field(default_factory=Counter)

    def add(self, entity: str, where: str) -> None:
        self.types[entity] += 1
        self.fields[where] += 1


@dataclass
class CallTexts:
    """The parts of a call that are redacted."""

    request: dict[str, Any]
    response: dict[str, Any] | None
    metadata: dict[str, Any]
    error: str = ""
    # Names the agent gives itself and its workload: free text a client may fill with an e-mail or a name.
    agent: str = ""
    workload: str = ""


@dataclass
class RedactedCall(CallTexts):
    tally: Tally = field(default_factory=Tally)


# What the walk over a call does with each string: (text, where, personal, context) -> the text to keep.
# personal: the NER model reads it (not a template); context: cue words from its JSON key.
Visit = Callable[[str, str, bool, str], str]


class PiiScanner:
    def __init__(
        self,
        spec: PolicySpec | None = None,
        *,
        cache_size: int = 200_000,
        cache: dict[bytes, list[Finding]] | None = None,
    ) -> None:
        """cache: a content-hash cache to share with other scanners of the same analysis_key (findings
        are offsets and types, never text)."""
        self.spec = spec or PolicySpec()
        self.thresholds = dict(self.spec.thresholds)
        self.pattern_entities = [e for e in self.thresholds if e in ENTITY_TYPES and e != "PERSON"]
        for custom in self.spec.custom:  # a custom type is on by being there; its score is its own
            self.thresholds.setdefault(custom.entity, 0.0)
        self.allow_list = {a.strip().lower() for a in self.spec.allow_list if a.strip()}
        self.engine = build_engine()
        self.names = PersonNameRecognizer() if "PERSON" in self.spec.thresholds else None
        self.cue_entities = [e for e in ("PERSON", "LOCATION") if e in self.spec.thresholds]
        self.cues = CueRecognizer() if self.cue_entities else None
        self.custom = [(c.entity, re.compile(c.pattern), c.score) for c in self.spec.custom]
        self.ner_entities = [e for e in NER_TYPES if e in self.thresholds] if self.spec.ner_model else []
        self.ner = None
        if self.ner_entities:
            from apps.curation.ner import ner_recognizer_load

            self.ner = ner_recognizer_load(self.spec.ner_model)
        self.cache: dict[bytes, list[Finding]] = {} if cache is None else cache
        self.cache_size = cache_size
        self.analysed = 0

    # --- analysis ----------------------------------------------------------------------------------

    def _analyse(self, text: str) -> list[RecognizerResult]:
        """The pattern engine, the name recognizer and the custom patterns (not NER) on one window."""
        results: list[RecognizerResult] = []
        if self.pattern_entities and _ENGINE_NEEDED.search(text):
            results += self.engine.analyze(text, self.pattern_entities)
        if self.names is not None:
            results += self.names.analyze(text, ["PERSON"], None)
        if self.cues is not None:
            results += self.cues.analyze(text, self.cue_entities, None)
        for entity, regex, score in self.custom:
            results += [RecognizerResult(entity, m.start(), m.end(), score) for m in regex.finditer(text) if m.group()]
        return results

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

    def _key(self, text: str, personal: bool, context: str) -> tuple[bytes, bool, str]:
        """(cache key, personal, context) of a text: its hash, apart for texts the NER model reads and
        for each context they are read in. Without NER neither makes a difference."""
        if self.ner is None:
            personal, context = False, ""
        digest = hashlib.blake2b(text.encode(), digest_size=16, person=b"ner" if personal else b"")
        if personal and context:
            digest.update(b"\x00" + context.encode())
        return digest.digest(), personal, context

    def _analyse_all(self, texts: Mapping[bytes, tuple[str, bool, str]]) -> dict[bytes, list[Finding]]:
        """Findings for each (text, personal, context) by its key, cached; the NER model reads the
        personal ones in one batch."""
        keys = list(texts)
        results = [self._analyse_windows(texts[k][0]) for k in keys]
        if self.ner is not None:
            personal = [i for i, k in enumerate(keys) if texts[k][1]]
            found = self.ner.find(
                [texts[keys[i]][0] for i in personal], self.ner_entities, [texts[keys[i]][2] for i in personal]
            )
            for i, ner_results in zip(personal, found, strict=True):
                results[i] += ner_results
        out = {}
        for key, found_in in zip(keys, results, strict=True):
            text = texts[key][0]
            kept = [r for r in found_in if r.score >= self.thresholds.get(r.entity_type, 1.1)]
            out[key] = [f for f in _resolve(kept) if text[f.start : f.end].strip().lower() not in self.allow_list]
        self.analysed += len(out)
        if len(self.cache) + len(out) > self.cache_size:
            self.cache.clear()
        self.cache.update(out)
        return out

    def findings(self, text: str, *, personal: bool = True, context: str = "") -> list[Finding]:
        """What the policy finds in a text. personal: a text the NER model reads (not a template);
        context: cue words from outside the text (its JSON key's)."""
        if not text or text.isspace():
            return []
        if len(text) > MAX_TEXT_CHARS:
            raise TextTooLong(len(text))
        key, personal, context = self._key(text, personal, context)
        found = self.cache.get(key)
        if found is None:
            found = self._analyse_all({key: (text, personal, context)})[key]
        return found

    def prepare(self, calls: Sequence[CallTexts]) -> None:
        """Analyse every string of these calls not analysed yet, in one batch (the NER model's nlp.pipe)."""
        pending: dict[bytes, tuple[str, bool, str]] = {}

        def collect(text: str, where: str, personal: bool, context: str) -> str:
            if text and not text.isspace() and len(text) <= MAX_TEXT_CHARS:
                key, personal, context = self._key(text, personal, context)
                if key not in self.cache:
                    pending[key] = (text, personal, context)
            return text

        for call in calls:
            self._walk_call(call, collect, Tally())
        if pending:
            self._analyse_all(pending)

    # --- redaction ---------------------------------------------------------------------------------

    def replacement(self, entity: str, value: str) -> str:
        if self.spec.operator == "mask":
            return operators.mask(value)
        if self.spec.operator == "pseudonymise":
            return operators.pseudonym(entity, value, self.spec.key)
        return operators.tag(entity)

    def redact_text(
        self, text: str, tally: Tally, where: str = "text", *, personal: bool = True, context: str = ""
    ) -> str:
        found = self.findings(text, personal=personal, context=context)
        if not found:
            return text
        parts, position = [], 0
        for f in found:
            parts += [text[position : f.start], self.replacement(f.entity_type, text[f.start : f.end])]
            tally.add(f.entity_type, where)
            position = f.end
        parts.append(text[position:])
        return "".join(parts)

    def _visit(self, tally: Tally) -> Visit:
        return lambda text, where, personal, context: self.redact_text(
            text, tally, where, personal=personal, context=context
        )

    def redact_value(self, value: Any, tally: Tally, where: str, *, key: str = "") -> Any:
        """Walk JSON-like data; strings are redacted, values of secret-named keys are replaced."""
        return self._walk_value(value, self._visit(tally), tally, where, key=key)

    def redact_json_string(self, text: str, tally: Tally, where: str) -> str:
        """Tool-call arguments and tool results: redact inside the JSON and keep it valid JSON."""
        return self._walk_json_string(text, self._visit(tally), tally, where)

    def redact_calls(self, calls: Sequence[CallTexts]) -> list[RedactedCall]:
        """Every string an agent can leak through: message text and parts, tool-call arguments, tool
        results, the response, metadata values and the error. Tool schemas and parameters are left as
        they are. With an NER model, the strings of all the calls are analysed in one batch first."""
        if self.ner is not None:
            self.prepare(calls)
        redacted = []
        for call in calls:
            tally = Tally()
            redacted.append(self._walk_call(call, self._visit(tally), tally))
        return redacted

    def redact_call(
        self, *, request: dict[str, Any], response: dict[str, Any] | None, metadata: dict[str, Any]
    ) -> tuple[dict[str, Any], dict[str, Any] | None, dict[str, Any], Tally]:
        [done] = self.redact_calls([CallTexts(request=request, response=response, metadata=metadata)])
        return done.request, done.response, done.metadata, done.tally

    # --- the walk over a call: the same for collecting strings and for redacting them ---------------

    def _walk_value(
        self, value: Any, visit: Visit, tally: Tally, where: str, *, key: str = "", personal: bool = True
    ) -> Any:
        if isinstance(value, str):
            label = f"{where}.{key}" if key else where
            if key and SECRET_FIELD.search(key) and value and "SECRET" in self.thresholds:
                tally.add("SECRET", label)
                return self.replacement("SECRET", value)
            if key and "PERSON" in self.thresholds and _is_person_field(key, value, self.allow_list):
                tally.add("PERSON", label)
                return self.replacement("PERSON", value)
            return visit(value, label, personal, _key_context(key) if key else "")
        if isinstance(value, dict):
            return {
                k: self._walk_value(v, visit, tally, where, key=str(k), personal=personal) for k, v in value.items()
            }
        if isinstance(value, list):
            return [self._walk_value(v, visit, tally, where, key=key, personal=personal) for v in value]
        return value

    def _walk_json_string(self, text: str, visit: Visit, tally: Tally, where: str) -> str:
        try:
            parsed = json.loads(text)
        except (ValueError, TypeError):
            return visit(text, where, True, "")
        if not isinstance(parsed, dict | list):
            return visit(text, where, True, "")
        return json.dumps(self._walk_value(parsed, visit, tally, where), ensure_ascii=False)

    def _walk_message(self, message: Any, visit: Visit, tally: Tally, where: str | None = None) -> Any:
        if not isinstance(message, dict):
            return self._walk_value(message, visit, tally, where or "message")
        role = str(message.get("role") or "message")
        personal = role not in TEMPLATE_ROLES
        where = where or f"{role} message"
        out = dict(message)
        content = message.get("content")
        if isinstance(content, str):
            if role in ("tool", "function"):
                out["content"] = self._walk_json_string(content, visit, tally, "tool result")
            else:
                out["content"] = visit(content, where, personal, "")
        elif content is not None:
            out["content"] = self._walk_value(content, visit, tally, where, personal=personal)
        if isinstance(message.get("tool_calls"), list):
            calls = []
            for call in message["tool_calls"]:
                call = dict(call) if isinstance(call, dict) else call
                fn = call.get("function") if isinstance(call, dict) else None
                if isinstance(fn, dict) and isinstance(fn.get("arguments"), str):
                    arguments = self._walk_json_string(fn["arguments"], visit, tally, "tool-call arguments")
                    call["function"] = {**fn, "arguments": arguments}
                calls.append(call)
            out["tool_calls"] = calls
        return out

    def _walk_call(self, call: CallTexts, visit: Visit, tally: Tally) -> RedactedCall:
        request = dict(call.request)
        if isinstance(request.get("messages"), list):
            request["messages"] = [self._walk_message(m, visit, tally) for m in request["messages"]]
        response = self._walk_message(call.response, visit, tally, "response") if call.response is not None else None
        metadata = self._walk_value(call.metadata, visit, tally, "metadata")
        error = visit(call.error, "error", True, "") if call.error else call.error
        # Labels, not prose: the pattern and name recognizers read them, the NER model does not.
        agent = visit(call.agent, "agent", False, "") if call.agent else call.agent
        workload = visit(call.workload, "workload", False, "") if call.workload else call.workload
        return RedactedCall(
            request=request, response=response, metadata=metadata, error=error, agent=agent, workload=workload,
            tally=tally,
        )  # fmt: skip

    def text_sizes(self, calls: Sequence[CallTexts]) -> tuple[list[int], int]:
        """The characters of text the scanner would analyse: per call, and for the lot. A text repeated within
        a call, or across the calls, counts once (it is analysed once). Ingestion's budget: it is checked
        before any analysis, and costs one walk over the strings."""
        seen: set[str] = set()
        per_call = []
        mine: set[str] = set()

        def count(text: str, where: str, personal: bool, context: str) -> str:
            mine.add(text)
            return text

        for call in calls:
            mine.clear()
            self._walk_call(call, count, Tally())
            per_call.append(sum(map(len, mine)))
            seen |= mine
        return per_call, sum(map(len, seen))
