"""What makes a task a task: each call is read as three short texts, embedded separately.

- **system**: the call site's system prompt, normalised (dates, ids, numbers, e-mails and the tags
  redaction left behind become placeholders), so one template with variable parts is one text;
- **shape**: the structure of the call: whether tools were offered, the response format asked for,
  and the shape of the answer (a short label, a JSON object and its keys, tool calls, SQL, code,
  free text of some length);
- **user**: the last user turn, normalised and cut to its first words.

The three vectors are weighted and joined (see workers/jobs/clustering.py). Call sites repeat their
system prompt and shape on every call, so those two texts are embedded once per project; only the
user turns are many, and they are short. No torch here: this runs in the web process too.

Bounded work on any call: each step reads at most the first MESSAGE_CHARS characters of each message
and of the answer (a 5 MB message costs what a 20 KB one does), and every regex here is linear in its
input (no pattern can restart inside a run it has already scanned).
"""

import hashlib
import json
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

from apps.common.messages import content_text

EMBEDDING_MODEL = "all-MiniLM-L6-v2"
USER_WORDS = 48
SYSTEM_CHARS = 1200
# How much of each message (and of the answer) the task texts read. Far more than they keep
# (SYSTEM_CHARS, USER_WORDS): placeholders and collapsed spaces change the length a little.
MESSAGE_CHARS = 20_000
# An answer longer than this is not parsed as JSON (it is read as a long free text); LLM answers
# stop far below it.
ANSWER_JSON_CHARS = 1_000_000


class OutputKind:
    LABEL = "label"
    JSON = "json"
    TOOL_CALLS = "tool_calls"
    SQL = "sql"
    CODE = "code"
    TEXT = "text"
    NONE = "none"


OUTPUT_KIND_LABELS = {
    OutputKind.LABEL: "Label from a closed set",
    OutputKind.JSON: "JSON",
    OutputKind.TOOL_CALLS: "Tool calls",
    OutputKind.SQL: "SQL",
    OutputKind.CODE: "Code",
    OutputKind.TEXT: "Free text",
    OutputKind.NONE: "No answer",
}
STRUCTURED_KINDS = frozenset({OutputKind.LABEL, OutputKind.JSON, OutputKind.TOOL_CALLS, OutputKind.SQL})

_PLACEHOLDERS = [
    (re.compile(r"<[A-Z_]{3,30}>"), "<PII>"),
    (re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I), "<ID>"),
    # Each pattern that repeats over a run of characters starts only where the run starts (the
    # lookbehind), never again inside it: without that, a long run with no "@" was scanned once per
    # character (40,000 characters took 13 s).
    (re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+\.[\w.-]+"), "<EMAIL>"),
    (re.compile(r"https?://\S+"), "<URL>"),
    (re.compile(r"\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2})?(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?)?\b"), "<DATE>"),
    (re.compile(r"\b\d{1,2}[/.]\d{1,2}[/.]\d{2,4}\b"), "<DATE>"),
    (re.compile(r"\b\d{1,2}:\d{2}(?::\d{2})?\s?(?:[ap]\.?m\.?)?", re.I), "<TIME>"),
    (re.compile(r"(?<![0-9a-z_-])(?=[0-9a-z_-]*\d)(?=[0-9a-z_-]*[a-z])[0-9a-z_-]{12,}\b", re.I), "<ID>"),
    (re.compile(r"[$€£]?\d[\d,]*(?:\.\d+)?%?"), "<NUM>"),
]
_SPACE = re.compile(r"\s+")
_SQL = re.compile(r"^\s*(?:```sql\s*)?(SELECT|WITH|INSERT|UPDATE|DELETE|CREATE|ALTER)\b", re.I)
_CODE = re.compile(r"```|^[ \t]*(def |class |import |from \S+ import |function |const |let |#include|public )", re.M)


def normalise(text: str) -> str:
    """Variable parts become placeholders, so calls from one template read the same."""
    for pattern, placeholder in _PLACEHOLDERS:
        text = pattern.sub(placeholder, text)
    return _SPACE.sub(" ", text).strip()


def text_key(text: str) -> str:
    """The embedding cache key: the model and the text, hashed."""
    return hashlib.sha256(f"{EMBEDDING_MODEL}\0{text}".encode()).hexdigest()[:32]


def answer_text(response: dict[str, Any] | None) -> str:
    if not response:
        return ""
    return content_text(response.get("content")).strip()


def answer_kind(response: dict[str, Any] | None) -> str:
    """The shape of one answer. A short answer is a label candidate; the cluster decides (output_kind)."""
    if not response:
        return OutputKind.NONE
    if response.get("tool_calls"):
        return OutputKind.TOOL_CALLS
    text = answer_text(response)
    if not text:
        return OutputKind.NONE
    if len(text) <= ANSWER_JSON_CHARS and _json_object(text) is not None:
        return OutputKind.JSON
    head = text[:MESSAGE_CHARS]
    if _SQL.match(head):
        return OutputKind.SQL
    if _CODE.search(head):
        return OutputKind.CODE
    if _is_short(text):
        return OutputKind.LABEL
    return OutputKind.TEXT


def _is_short(text: str) -> bool:
    return len(text) <= 48 and "\n" not in text and len(text.split()) <= 4


def _json_object(text: str) -> dict[str, Any] | list[Any] | None:
    stripped = text.strip().removeprefix("```json").removeprefix("```").removesuffix("```").strip()
    if not stripped or stripped[0] not in "[{":
        return None
    try:
        value = json.loads(stripped)
    except ValueError:
        return None
    return value if isinstance(value, dict | list) else None


def request_shape(request: dict[str, Any]) -> str:
    """The part of a call's shape the request says (tools offered, the response format asked for):
    what a router reads before the answer exists."""
    parts = ["tools offered" if request.get("tools") else "no tools"]
    fmt = request.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type"):
        parts.append(f"response format {fmt['type']}")
    return "; ".join(parts)


def _shape(request: dict[str, Any], response: dict[str, Any] | None) -> str:
    parts = [request_shape(request)]
    kind = answer_kind(response)
    if kind == OutputKind.JSON:
        value = _json_object(answer_text(response))
        keys = sorted(value)[:8] if isinstance(value, dict) else []
        parts.append("answer: JSON object with keys " + ", ".join(keys) if keys else "answer: JSON list")
    elif kind == OutputKind.TEXT:
        words = len(answer_text(response)[:MESSAGE_CHARS].split())
        size = "one sentence" if words <= 40 else "a paragraph" if words <= 150 else "a long text"
        parts.append(f"answer: free text, {size}")
    else:
        parts.append(
            {
                OutputKind.TOOL_CALLS: "answer: tool calls",
                OutputKind.SQL: "answer: SQL query",
                OutputKind.CODE: "answer: code",
                OutputKind.LABEL: "answer: a short label",
                OutputKind.NONE: "answer: none",
            }[kind]
        )
    return "; ".join(parts)


@dataclass(frozen=True)
class TaskTexts:
    system: str
    shape: str
    user: str

    def as_tuple(self) -> tuple[str, str, str]:
        return (self.system, self.shape, self.user)


def _head(content: Any) -> str:
    """The first MESSAGE_CHARS characters of a message's text."""
    if isinstance(content, str):
        return content[:MESSAGE_CHARS]
    return content_text(content)[:MESSAGE_CHARS]


def task_texts(request: dict[str, Any], response: dict[str, Any] | None) -> TaskTexts:
    """The three texts of a call, each read from the first MESSAGE_CHARS characters of its messages
    and cut to SYSTEM_CHARS (system), USER_WORDS words and SYSTEM_CHARS characters (user)."""
    return _texts(request, _shape(request, response))


def request_texts(request: dict[str, Any]) -> TaskTexts:
    """The texts of a request that has no answer yet: its shape is what the request says of it."""
    return _texts(request, request_shape(request))


def system_text(messages: list[dict[str, Any]]) -> str:
    """The system and developer prompts, their first MESSAGE_CHARS characters, normalised."""
    system_parts: list[str] = []
    read = 0
    for message in messages:
        if read < MESSAGE_CHARS and message.get("role") in ("system", "developer"):
            system_parts.append(_head(message.get("content")))
            read += len(system_parts[-1]) + 1
    return normalise(" ".join(system_parts)[:MESSAGE_CHARS])


def _texts(request: dict[str, Any], shape: str) -> TaskTexts:
    messages = [m for m in request.get("messages") or [] if isinstance(m, dict)]
    last_user = next((m for m in reversed(messages) if m.get("role") == "user"), None)
    user = normalise(_head(last_user.get("content"))) if last_user is not None else ""
    return TaskTexts(
        system=system_text(messages)[:SYSTEM_CHARS],
        shape=shape,
        user=" ".join(user.split()[:USER_WORDS])[:SYSTEM_CHARS],
    )


@dataclass(frozen=True)
class OutputSummary:
    kind: str
    labels: list[str]  # a closed label set: every label seen, most frequent first
    json_keys: list[str]


def output_summary(responses: list[dict[str, Any] | None]) -> OutputSummary:
    """The output kind of a cluster's answers, from a sample of them. Short answers that repeat
    (few distinct values for many answers) are a closed label set."""
    kind_of = [(r, answer_kind(r)) for r in responses]
    kinds = Counter(k for _, k in kind_of)
    answered = [(r, k) for r, k in kind_of if k != OutputKind.NONE]
    if not answered:
        return OutputSummary(OutputKind.NONE, [], [])
    kind, count = kinds.most_common(1)[0]
    if kind == OutputKind.NONE:
        kind, count = next((k, c) for k, c in kinds.most_common() if k != OutputKind.NONE)
    if kind == OutputKind.LABEL:
        values = Counter(answer_text(r) for r, k in answered if k == OutputKind.LABEL)
        if len(values) <= max(2, min(100, count * 0.35)):
            return OutputSummary(OutputKind.LABEL, [v for v, _ in values.most_common()], [])
        return OutputSummary(OutputKind.TEXT, [], [])
    keys: Counter[str] = Counter()
    if kind == OutputKind.JSON:
        for r, k in answered:
            value = _json_object(answer_text(r)) if k == OutputKind.JSON else None
            if isinstance(value, dict):
                keys.update(value.keys())
    return OutputSummary(kind, [], [k for k, _ in keys.most_common(12)])
