import json

import pytest

from apps.discovery import texts
from apps.discovery.describe import keywords, suitability
from apps.discovery.texts import (
    ANSWER_JSON_CHARS,
    MESSAGE_CHARS,
    SYSTEM_CHARS,
    answer_kind,
    normalise,
    output_summary,
    task_texts,
)


def test_variable_parts_of_a_template_are_normalised_away() -> None:
    a = normalise("Ticket 48213 from <PERSON> on 2024-05-01 10:30: order a1b2c3d4e5f6g7 costs $1,299.50")
    b = normalise("Ticket 77 from <EMAIL_ADDRESS> on 2025-12-31 08:05: order zz99yy88xx77ww costs $5")
    assert a == b == "Ticket <NUM> from <PII> on <DATE>: order <ID> costs <NUM>"


def test_task_texts_read_the_system_prompt_the_shape_and_the_last_user_turn() -> None:
    request = {
        "messages": [
            {"role": "system", "content": "You route tickets. Today is 2024-01-02."},
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": [{"type": "text", "text": "Refund order 1234 please"}]},
        ],
        "tools": [{"type": "function", "function": {"name": "refund"}}],
        "response_format": {"type": "json_object"},
    }
    texts = task_texts(request, {"role": "assistant", "content": '{"intent": "refund", "category": "ORDER"}'})
    assert texts.system == "You route tickets. Today is <DATE>."
    assert texts.user == "Refund order <NUM> please"
    assert texts.shape == "tools offered; response format json_object; answer: JSON object with keys category, intent"


def test_answer_kinds() -> None:
    assert answer_kind({"tool_calls": [{"function": {"name": "f"}}], "content": None}) == "tool_calls"
    assert answer_kind({"content": "SELECT a FROM b"}) == "sql"
    assert answer_kind({"content": "```python\nprint(1)\n```"}) == "code"
    assert answer_kind({"content": "positive"}) == "label"
    assert answer_kind({"content": "This paper shows that small models suffice for most agent calls today."}) == "text"
    assert answer_kind(None) == "none"


def test_repeated_short_answers_are_a_closed_label_set_and_varied_ones_are_not() -> None:
    labels = output_summary([{"content": v} for v in ["yes", "no", "yes", "maybe", "no", "yes"] * 5])
    assert (labels.kind, labels.labels) == ("label", ["yes", "no", "maybe"])
    varied = output_summary([{"content": f"answer number {i}"} for i in range(30)])
    assert varied.kind == "text" and varied.labels == []


def test_keywords_are_what_sets_a_cluster_apart() -> None:
    words = keywords(
        {
            "a": ["refund my order", "refund the order please", "where is my order"],
            "b": ["play some jazz music", "play music by miles", "music please"],
        }
    )
    assert words["a"][0] == "order" and "music" not in words["a"]
    assert words["b"][0] == "music" and "order" not in words["b"]


def test_suitability_prefers_narrow_frequent_short_tasks() -> None:
    good = suitability(output_kind="label", calls=5000, share=0.3, prompt_p99=900)
    poor = suitability(output_kind="text", calls=20, share=0.001, prompt_p99=40000)
    assert (good.level, poor.level) == ("good", "poor")
    assert any("few calls" in r for r in poor.reasons)


# --- bounded work on any input ---------------------------------------------------------------------

RUN_40K = ("ab-" * 14_000)[:40_000]
RUN_400K = ("ab-" * 140_000)[:400_000]


@pytest.mark.parametrize("run", [RUN_40K, RUN_400K], ids=["40k", "400k"])
def test_a_long_run_without_spaces_is_normalised_in_one_pass(run: str) -> None:
    """The old e-mail and id patterns restarted at every character of such a run (40,000 characters
    took 13 s; 400,000 would take over 20 minutes and hit the test timeout)."""
    assert normalise(run) == run
    assert normalise(run + "@example.com") == "<EMAIL>"
    assert normalise(f"see {run}9 now") == "see <ID> now"


def test_code_is_found_after_a_long_run_of_blank_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(texts, "MESSAGE_CHARS", 1_000_000)
    assert answer_kind({"content": "Here:" + "\n" * 400_000 + "def main():\n    pass"}) == "code"
    assert answer_kind({"content": "Here:" + "\n" * 400_000 + "the end"}) == "text"


@pytest.mark.parametrize("size", [40_000, 400_000, 5_000_000])
def test_task_texts_read_only_the_head_of_a_huge_message(size: int) -> None:
    filler = ("Please refund order 1234 for jane@example.com, thanks. " * (size // 50 + 1))[:size]
    request = {
        "messages": [
            {"role": "system", "content": "You route tickets. " + filler},
            {"role": "user", "content": filler + " TAIL-ONLY-WORD"},
        ]
    }
    texts_ = task_texts(request, {"role": "assistant", "content": filler})
    small = task_texts(
        {"messages": [{"role": m["role"], "content": m["content"][:MESSAGE_CHARS]} for m in request["messages"]]},
        {"role": "assistant", "content": filler[:MESSAGE_CHARS]},
    )
    assert texts_ == small
    assert len(texts_.system) <= SYSTEM_CHARS and len(texts_.user) <= SYSTEM_CHARS
    assert texts_.user.startswith("Please refund order <NUM> for <EMAIL>, thanks.")
    assert texts_.shape == "no tools; answer: free text, a long text"


def test_a_user_text_of_one_endless_word_is_cut() -> None:
    texts_ = task_texts({"messages": [{"role": "user", "content": "x" * 1_000_000}]}, None)
    assert texts_.user == "x" * SYSTEM_CHARS


def test_many_system_messages_are_read_only_up_to_the_cap() -> None:
    request = {"messages": [{"role": "system", "content": "Rule. " * 1000} for _ in range(5_000)]}
    assert task_texts(request, None).system == normalise(("Rule. " * 1000)[: SYSTEM_CHARS + 10])[:SYSTEM_CHARS]


def test_a_huge_json_answer_is_read_as_a_long_text_without_parsing() -> None:
    answer = json.dumps({"rows": ["value"] * (ANSWER_JSON_CHARS // 8)})
    assert len(answer) > ANSWER_JSON_CHARS
    assert answer_kind({"content": answer}) == "text"
    assert answer_kind({"content": json.dumps({"rows": ["value"] * 100})}) == "json"
