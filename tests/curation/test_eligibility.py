"""Training eligibility: the per-call rules and their order, prompt keys, and MinHash near-duplicates."""

import json
import random
import statistics
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from apps.curation import eligibility as el
from apps.curation.eligibility import NearDuplicateIndex, band_keys, minhash_signature, prompt_key, similarity

SYSTEM = "You are the support desk's triage assistant. Classify the customer's ticket and answer in JSON."
FORTY_WORDS = (
    "my order number 4471 arrived yesterday but the blue ceramic mug inside was cracked along the handle "
    "and the saucer was missing so please tell me whether you can send a replacement set this week "
    "or refund the full amount"
)


def request(user: str = "My card was charged twice.", system: str = SYSTEM, **extra: Any) -> dict[str, Any]:
    return {
        "model": "gpt-4o",
        "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}],
        **extra,
    }


def tool_call(name: str | None = "refund", arguments: Any = '{"order": 4471}') -> dict[str, Any]:
    return {"id": "call_abc", "type": "function", "function": {"name": name, "arguments": arguments}}


def reason(**overrides: Any) -> str:
    call: dict[str, Any] = {
        "request": request(),
        "response": {"role": "assistant", "content": '{"queue": "billing"}'},
        "status": "ok",
        "finish_reason": "stop",
        "prompt_tokens": 1000,
        "completion_tokens": 100,
        "max_tokens": 8192,
    }
    call.update(overrides)
    return el.call_rule_reason(**call)


def test_a_clean_call_passes() -> None:
    assert reason() == ""


def test_a_tool_call_without_text_is_not_empty() -> None:
    assert reason(response={"role": "assistant", "content": None, "tool_calls": [tool_call()]}) == ""


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"status": "error", "response": None}, el.ERROR),
        ({"response": None}, el.EMPTY_RESPONSE),
        ({"response": {"role": "assistant", "content": "  \n "}}, el.EMPTY_RESPONSE),
        ({"response": {"role": "assistant", "content": None, "tool_calls": []}}, el.EMPTY_RESPONSE),
        ({"response": {"role": "assistant", "content": [{"type": "text", "text": " "}]}}, el.EMPTY_RESPONSE),
        ({"finish_reason": "length"}, el.TRUNCATED),
        ({"response": {"role": "assistant", "content": "", "tool_calls": [tool_call(name="")]}}, el.INVALID_TOOL_JSON),
        ({"prompt_tokens": 8000, "completion_tokens": 193}, el.TOO_LONG),
        ({"prompt_tokens": None, "completion_tokens": None, "request": request("word " * 8000)}, el.TOO_LONG),
        ({"prompt_tokens": None, "completion_tokens": 10, "request": request("word " * 8000)}, el.TOO_LONG),
    ],
)
def test_each_rule_fires_on_a_call_that_breaks_it(overrides: dict[str, Any], expected: str) -> None:
    assert reason(**overrides) == expected


def test_token_limit_is_inclusive_and_estimates_are_used_only_when_counts_are_missing() -> None:
    assert reason(prompt_tokens=8000, completion_tokens=192) == ""
    assert reason(prompt_tokens=None, completion_tokens=None) == ""
    assert reason(prompt_tokens=100, completion_tokens=10, request=request("word " * 8000)) == ""


def test_a_text_content_part_counts_as_a_response() -> None:
    assert reason(response={"role": "assistant", "content": [{"type": "text", "text": "billing"}]}) == ""


def test_rules_apply_in_order() -> None:
    assert reason(status="error", finish_reason="length") == el.ERROR
    assert reason(response={"role": "assistant", "content": ""}, finish_reason="length") == el.EMPTY_RESPONSE
    broken = {"role": "assistant", "content": None, "tool_calls": [tool_call(arguments='{"order": 44')]}
    assert reason(response=broken, finish_reason="length") == el.TRUNCATED
    assert reason(response=broken, prompt_tokens=9000) == el.INVALID_TOOL_JSON


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ("{not json", el.INVALID_TOOL_JSON),
        ("[1,2]", el.INVALID_TOOL_JSON),
        ('"a string"', el.INVALID_TOOL_JSON),
        ({"order": 4471}, el.INVALID_TOOL_JSON),
        ("", el.INVALID_TOOL_JSON),
        ('{"order": 4471, "reason": "cracked"}', ""),
        ("{}", ""),
    ],
)
def test_tool_call_arguments_must_be_a_json_object_string(arguments: Any, expected: str) -> None:
    response = {"role": "assistant", "content": None, "tool_calls": [tool_call(), tool_call(arguments=arguments)]}
    assert reason(response=response) == expected


def test_reason_labels_cover_every_reason() -> None:
    reasons = [el.ERROR, el.EMPTY_RESPONSE, el.TRUNCATED, el.INVALID_TOOL_JSON, el.TOO_LONG, el.DUPLICATE]
    assert list(el.REASON_LABELS) == [*reasons, el.NEAR_DUPLICATE]
    assert len(set(el.REASON_LABELS.values())) == len(el.REASON_LABELS)


# ---- prompt keys


def test_exact_key_ignores_case_and_whitespace() -> None:
    a = prompt_key(request("My card was charged twice."))
    b = prompt_key(request("  my CARD was\n\tcharged   twice. ", system=SYSTEM.upper().replace(" ", "  ")))
    assert a.exact == b.exact
    assert a.template == b.template


def test_exact_key_changes_with_the_user_turn_but_the_template_does_not() -> None:
    a = prompt_key(request("My card was charged twice."))
    b = prompt_key(request("My card was charged three times."))
    assert a.exact != b.exact
    assert a.template == b.template
    assert a.text != b.text


def test_exact_key_ignores_tool_call_ids_and_sees_tool_call_arguments() -> None:
    def dialogue(call_id: str, arguments: str) -> dict[str, Any]:
        call = {**tool_call(arguments=arguments), "id": call_id}
        return {
            "messages": [
                {"role": "system", "content": SYSTEM},
                {"role": "user", "content": "Refund order 4471."},
                {"role": "assistant", "content": None, "tool_calls": [call]},
                {"role": "tool", "tool_call_id": call_id, "content": '{"ok": true}'},
            ],
            "tools": [{"type": "function", "function": {"name": "refund", "parameters": {}}}],
        }

    first = prompt_key(dialogue("call_1", '{"order": 4471}')).exact
    assert prompt_key(dialogue("call_2", '{"order": 4471}')).exact == first
    assert prompt_key(dialogue("call_1", '{"order": 4472}')).exact != first


def test_template_is_the_system_prompt_and_tool_names() -> None:
    tools = [{"type": "function", "function": {"name": n}} for n in ("refund", "lookup")]
    base = prompt_key(request(tools=tools))
    assert prompt_key(request(tools=tools[::-1])).template == base.template
    assert prompt_key(request(tools=tools[:1])).template != base.template
    assert prompt_key(request(system="You translate tickets to French.", tools=tools)).template != base.template


def test_text_is_the_normalised_non_system_part() -> None:
    key = prompt_key(
        {
            "messages": [
                {"role": "system", "content": SYSTEM},
                {"role": "user", "content": [{"type": "text", "text": "Refund   ORDER"}, {"type": "image_url"}]},
                {"role": "assistant", "content": None, "tool_calls": [tool_call()]},
            ]
        }
    )
    assert key.text == 'refund order refund {"order": 4471}'


# ---- MinHash


def near_duplicate(a: dict[str, Any], b: dict[str, Any]) -> bool:
    index: NearDuplicateIndex[str] = NearDuplicateIndex()
    ka, kb = prompt_key(a), prompt_key(b)
    sa = minhash_signature(ka.text)
    index.add("a", sa, band_keys(sa, ka.template))
    sb = minhash_signature(kb.text)
    return index.match(sb, band_keys(sb, kb.template)) == "a"


def test_one_word_changed_at_the_end_of_forty_words_is_a_near_duplicate() -> None:
    words = FORTY_WORDS.split()
    assert len(words) == 40
    edited = " ".join([*words[:-1], "balance"])
    assert prompt_key(request(FORTY_WORDS)).exact != prompt_key(request(edited)).exact
    assert near_duplicate(request(FORTY_WORDS), request(edited))


def test_a_different_text_of_the_same_template_is_not_a_near_duplicate() -> None:
    other = (
        "please update the shipping address on my account to the new flat on harbour street because "
        "we moved last month and the courier keeps returning parcels to the old building near the station"
    )
    assert not near_duplicate(request(FORTY_WORDS), request(other))


def test_the_same_text_under_another_system_prompt_is_not_a_near_duplicate() -> None:
    a, b = request(FORTY_WORDS), request(FORTY_WORDS, system="You translate customer tickets into French.")
    ka, kb = prompt_key(a), prompt_key(b)
    assert minhash_signature(ka.text) == minhash_signature(kb.text)
    assert not set(band_keys(minhash_signature(ka.text), ka.template)) & set(
        band_keys(minhash_signature(kb.text), kb.template)
    )
    assert not near_duplicate(a, b)


def test_signature_slots_are_exact_universal_hashes_mod_the_mersenne_prime() -> None:
    p = 2**61 - 1
    for text in (FORTY_WORDS, "hi", ""):
        shingles = [int(x) for x in el._shingle_hashes(text)]
        expected = [min((int(a) * x + int(b)) % p for x in shingles) for a, b in zip(el._A, el._B, strict=True)]
        assert minhash_signature(text) == expected


def test_signature_similarity_estimates_shingle_jaccard() -> None:
    rng = random.Random(7)
    vocab = [f"w{i}" for i in range(5000)]
    estimates = []
    for _ in range(200):
        words = [rng.choice(vocab) for _ in range(40)]
        edited = [*words[:-1], "x"]
        estimates.append(similarity(minhash_signature(" ".join(words)), minhash_signature(" ".join(edited))))
    assert statistics.mean(estimates) == pytest.approx(37 / 39, abs=0.02)
    # Independent permutations give a binomial spread, sqrt(J * (1 - J) / 64) = 0.028; correlated ones more.
    assert statistics.pstdev(estimates) < 0.034


def test_index_returns_the_most_similar_candidate_that_shares_a_band() -> None:
    query = list(range(64))
    index: NearDuplicateIndex[str] = NearDuplicateIndex()
    index.add("far", [*query[:54], *[-1] * 10], [1, 10])  # 54/64 slots equal
    index.add("near", [*query[:62], -1, -1], [2, 20])  # 62/64
    index.add("unbanded", query, [3, 30])  # identical, but shares no band with the query
    assert index.match(query, [1, 2], threshold=0.8) == "near"
    assert index.match(query, [1], threshold=0.8) == "far"
    assert index.match(query, [1], threshold=0.9) is None
    assert index.match(query, [4]) is None
    index.add("near too", [*query[:62], -2, -2], [2])
    assert index.match(query, [2], threshold=0.8) == "near"
    assert len(index) == 4


def test_signatures_are_stable_bigints() -> None:
    sig = minhash_signature(FORTY_WORDS)
    assert sig == minhash_signature(FORTY_WORDS)
    assert len(sig) == 64 and len(set(sig)) > 1
    assert all(0 <= v < 2**63 for v in sig)
    bands = band_keys(sig, "t")
    assert len(bands) == 8 and all(-(2**63) <= b < 2**63 for b in bands)
    assert len(minhash_signature("hi")) == 64 and minhash_signature("hi") != minhash_signature("hello")


def test_signatures_and_band_keys_are_the_same_in_another_process() -> None:
    code = (
        "import json, sys; from apps.curation.eligibility import band_keys, minhash_signature as m; "
        "s = m(sys.argv[1]); print(json.dumps([s, band_keys(s, 'tpl')]))"
    )
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", code, FORTY_WORDS],
        cwd=root,
        env={"PYTHONHASHSEED": "12345", "PATH": ""},
        capture_output=True,
        text=True,
        check=True,
    )
    sig = minhash_signature(FORTY_WORDS)
    assert json.loads(out.stdout) == [sig, band_keys(sig, "tpl")]


# ---- the shipped sample


def test_the_sample_is_mostly_trainable(sample_records: list[dict[str, Any]]) -> None:
    rules: Counter[str] = Counter()
    index: NearDuplicateIndex[int] = NearDuplicateIndex()
    seen: set[str] = set()
    exact = near = 0
    for i, record in enumerate(sample_records):
        usage = record.get("usage") or {}
        rules[
            el.call_rule_reason(
                request=record["request"],
                response=record["response"],
                status=record.get("status", "ok"),
                finish_reason="",
                prompt_tokens=usage.get("prompt_tokens"),
                completion_tokens=usage.get("completion_tokens"),
                max_tokens=8192,
            )
        ] += 1
        key = prompt_key(record["request"])
        if key.exact in seen:
            exact += 1
            continue
        seen.add(key.exact)
        sig = minhash_signature(key.text)
        bands = band_keys(sig, key.template)
        if index.match(sig, bands) is not None:
            near += 1
            continue
        index.add(i, sig, bands)
    print(f"\n{len(sample_records)} records: {exact} exact duplicates, {near} near-duplicates, rules {dict(rules)}")
    assert len(sample_records) > 1000
    assert near < 0.05 * len(sample_records)
    assert exact < 0.05 * len(sample_records)
    assert rules[""] > 0.95 * len(sample_records)
