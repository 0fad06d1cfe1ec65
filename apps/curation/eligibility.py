"""Whether a call may become training data: per-call rules, exact duplicates and near-duplicates.

A near-duplicate is a call whose varying part (the user and assistant turns, tool calls included)
shares at least NEAR_DUPLICATE_THRESHOLD of its word 3-shingles with an earlier call of the same
template (same system prompt and tool names), estimated by MinHash and found through LSH bands.
The system prompt is left out of the shingles: every call of a task shares it, so with it in, any
two calls of one task with a long system prompt and short user turns would look alike.

Pure functions, no database: ingestion and re-scans share them.
"""

import hashlib
import json
import zlib
from collections import defaultdict
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import numpy as np

from apps.common.messages import content_text

ERROR = "error"
EMPTY_RESPONSE = "empty_response"
TRUNCATED = "truncated"
INVALID_TOOL_JSON = "invalid_tool_json"
TOO_LONG = "too_long"
DUPLICATE = "duplicate"
NEAR_DUPLICATE = "near_duplicate"

# In the order they are checked: the per-call rules, then duplicates among the calls that pass them.
REASON_LABELS: dict[str, str] = {
    ERROR: "Error response",
    EMPTY_RESPONSE: "Empty response",
    TRUNCATED: "Truncated (length limit)",
    INVALID_TOOL_JSON: "Invalid tool-call JSON",
    TOO_LONG: "Over-long call",
    DUPLICATE: "Duplicate prompt",
    NEAR_DUPLICATE: "Near-duplicate prompt",
}

NEAR_DUPLICATE_THRESHOLD = 0.9
NUM_PERM = 64
BANDS = 8
ROWS = NUM_PERM // BANDS
SYSTEM_ROLES = ("system", "developer")

_P = (1 << 61) - 1  # Mersenne prime: x mod P is a shift, a mask and an add


def _coefficient(name: str, i: int, modulus: int) -> int:
    digest = hashlib.blake2b(f"downshift-minhash-{name}-{i}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") % modulus


# h_i(x) = (a_i * x + b_i) mod P for 32-bit x, the a_i split in 30 high and 31 low bits so that the sum fits in uint64.
_A = np.array([_coefficient("a", i, _P - 1) + 1 for i in range(NUM_PERM)], dtype=np.uint64)
_A_HI = _A >> np.uint64(31)
_A_LO = _A & np.uint64((1 << 31) - 1)
_B = np.array([_coefficient("b", i, _P) for i in range(NUM_PERM)], dtype=np.uint64)
# Multipliers that mix three 32-bit word hashes into one order-sensitive 32-bit shingle hash.
_MIX = [np.uint64(_coefficient("mix", i, 1 << 64) | 1) for i in range(3)]


# ---- per-call rules


def _tool_calls(message: Mapping[str, Any]) -> list[Any]:
    calls = message.get("tool_calls")
    return calls if isinstance(calls, list) else []


def _function(tool_call: Any) -> Mapping[str, Any]:
    fn = tool_call.get("function") if isinstance(tool_call, dict) else None
    return fn if isinstance(fn, dict) else {}


def _arguments(fn: Mapping[str, Any]) -> str:
    args = fn.get("arguments")
    return args if isinstance(args, str) else json.dumps(args, sort_keys=True)


def _valid_tool_call(tool_call: Any) -> bool:
    fn = _function(tool_call)
    name, args = fn.get("name"), fn.get("arguments")
    if not isinstance(name, str) or not name.strip() or not isinstance(args, str):
        return False
    try:
        return isinstance(json.loads(args), dict)
    except (ValueError, RecursionError):
        return False


def _chars(message: Mapping[str, Any]) -> int:
    n = len(content_text(message.get("content")))
    for tc in _tool_calls(message):
        fn = _function(tc)
        n += len(str(fn.get("name") or "")) + len(_arguments(fn))
    return n


def _estimate_tokens(chars: int) -> int:
    return (chars + 3) // 4


def call_rule_reason(
    *,
    request: Mapping[str, Any],
    response: Mapping[str, Any] | None,
    status: str,
    finish_reason: str,
    prompt_tokens: int | None,
    completion_tokens: int | None,
    max_tokens: int,
) -> str:
    """The first per-call rule the call breaks, or "" when it passes them all.

    A missing token count is estimated at four characters a token (tool definitions count towards the prompt).
    """
    if status == ERROR:
        return ERROR
    if response is None:
        return EMPTY_RESPONSE
    tool_calls = _tool_calls(response)
    if not content_text(response.get("content")).strip() and not tool_calls:
        return EMPTY_RESPONSE
    if finish_reason == "length":
        return TRUNCATED
    if not all(_valid_tool_call(tc) for tc in tool_calls):
        return INVALID_TOOL_JSON
    if prompt_tokens is None:
        messages = request.get("messages")
        chars = sum(_chars(m) for m in messages if isinstance(m, dict)) if isinstance(messages, list) else 0
        if request.get("tools"):
            chars += len(json.dumps(request["tools"]))
        prompt_tokens = _estimate_tokens(chars)
    if completion_tokens is None:
        completion_tokens = _estimate_tokens(_chars(response))
    if prompt_tokens + completion_tokens > max_tokens:
        return TOO_LONG
    return ""


# ---- prompt keys


@dataclass(frozen=True, slots=True)
class PromptKey:
    exact: str  # the whole normalised prompt: equal keys are duplicates
    template: str  # system prompt and tool names: the call site
    text: str  # the normalised rest, what varies between calls of one template


def _normalise(text: str) -> str:
    return " ".join(text.lower().split())


def _hash(parts: Sequence[str]) -> str:
    return hashlib.blake2b("\x00".join(parts).encode(), digest_size=16).hexdigest()


def _tool_names(request: Mapping[str, Any]) -> list[str]:
    tools = request.get("tools")
    names = (_function(t).get("name") for t in tools) if isinstance(tools, list) else ()
    return sorted(_normalise(n) for n in names if isinstance(n, str))


def prompt_key(request: Mapping[str, Any]) -> PromptKey:
    """Keys of the prompt, case- and whitespace-insensitive. Tool-call ids are left out: they are random."""
    messages = request.get("messages")
    system: list[str] = []
    rest: list[str] = []
    whole: list[str] = []
    for m in messages if isinstance(messages, list) else ():
        if not isinstance(m, dict):
            continue
        role = _normalise(str(m.get("role") or ""))
        parts = [_normalise(content_text(m.get("content")))]
        for tc in _tool_calls(m):
            fn = _function(tc)
            parts += [_normalise(str(fn.get("name") or "")), _normalise(_arguments(fn))]
        whole += [role, *parts]
        (system if role in SYSTEM_ROLES else rest).extend(p for p in parts if p)
    tools = _tool_names(request)
    return PromptKey(
        exact=_hash([*whole, "\x01tools", *tools]),
        template=_hash([*system, "\x01tools", *tools]),
        text=" ".join(rest),
    )


# ---- MinHash and LSH


def _shingle_hashes(text: str) -> np.ndarray:
    """32-bit hashes of the word 3-shingles of `text`, or of the whole text when it has under 3 words."""
    words = text.lower().encode().split()
    if len(words) < 3:
        return np.array([zlib.crc32(b" ".join(words))], dtype=np.uint64)
    w = np.array([zlib.crc32(word) for word in words], dtype=np.uint64)
    return (w[:-2] * _MIX[0] + w[1:-1] * _MIX[1] + w[2:] * _MIX[2]) >> np.uint64(32)


# Near-duplicates are judged on a prompt's first 100,000 characters: linear work and bounded memory for a
# 5 MB prompt (its whole shingle set would be a shingles x 64 array), the same verdict for real prompts.
MINHASH_CHARS = 100_000


def minhash_signature(text: str) -> list[int]:
    """For each of NUM_PERM hash functions, the minimum over the shingles of `text`.

    Stable across processes and machines; each value is below 2**61, so it fits a signed bigint.
    """
    x = _shingle_hashes(text[:MINHASH_CHARS])[:, None]
    h = x * _A_LO  # < 2**63
    hi = x * _A_HI  # < 2**62; hi * 2**31 = (hi >> 30) * 2**61 + (hi & (2**30 - 1)) * 2**31, and 2**61 = 1 mod P
    h += _B
    h += hi >> np.uint64(30)
    hi &= np.uint64((1 << 30) - 1)
    hi <<= np.uint64(31)
    h += hi  # < 2**64
    np.right_shift(h, np.uint64(61), out=hi)
    h &= np.uint64(_P)
    h += hi  # < P + 8
    if h.max() >= _P:  # about once in 2**58 values
        h = np.where(h >= np.uint64(_P), h - np.uint64(_P), h)
    return h.min(axis=0).tolist()


def band_keys(signature: Sequence[int], template: str) -> list[int]:
    """One signed 64-bit key per band of ROWS slots, salted with the template: only calls of one template collide."""
    data = np.asarray(signature, dtype="<i8").tobytes()
    salt = hashlib.blake2b(template.encode() + b"\x00", digest_size=8)
    step = ROWS * 8
    keys = []
    for band in range(BANDS):
        h = salt.copy()
        h.update(bytes([band]) + data[band * step : (band + 1) * step])
        keys.append(int.from_bytes(h.digest(), "little", signed=True))
    return keys


def similarity(a: Sequence[int], b: Sequence[int]) -> float:
    """The fraction of equal signature slots: an estimate of the shingle sets' Jaccard similarity."""
    if not a:
        return 0.0
    return sum(x == y for x, y in zip(a, b, strict=True)) / len(a)


K = TypeVar("K", bound=Hashable)


class NearDuplicateIndex(Generic[K]):
    """In-memory LSH index: calls that share a band key are candidates, verified by similarity."""

    def __init__(self) -> None:
        self._buckets: defaultdict[int, list[K]] = defaultdict(list)
        self._signatures: dict[K, Sequence[int]] = {}

    def __len__(self) -> int:
        return len(self._signatures)

    def add(self, key: K, signature: Sequence[int], bands: Sequence[int]) -> None:
        self._signatures[key] = signature
        for band in bands:
            self._buckets[band].append(key)

    def match(
        self, signature: Sequence[int], bands: Sequence[int], threshold: float = NEAR_DUPLICATE_THRESHOLD
    ) -> K | None:
        """The most similar indexed key at or above `threshold` (the earliest added on a tie), or None."""
        best: K | None = None
        best_score = threshold
        candidates = dict.fromkeys(key for band in bands for key in self._buckets.get(band, ()))
        for key in candidates:
            score = similarity(signature, self._signatures[key])
            if score >= best_score and (best is None or score > best_score):
                best, best_score = key, score
        return best
