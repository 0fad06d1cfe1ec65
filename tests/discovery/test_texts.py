from apps.discovery.describe import keywords, suitability
from apps.discovery.texts import answer_kind, normalise, output_summary, task_texts


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
