"""The LLM judge's fixed rubric prompt and the reading of its answer (pure)."""

import pytest

from apps.evaluation.scoring.judge import (
    MAX_PART_CHARS,
    SYSTEM,
    UNREADABLE,
    judge_request,
    parse_judgement,
    score_judged,
)

REQUEST = {
    "model": "gpt-4o",
    "temperature": 0.7,
    "tools": [{"type": "function", "function": {"name": "f"}}],
    "messages": [
        {"role": "system", "content": "Write a one-line TL;DR."},
        {"role": "user", "content": [{"type": "text", "text": "Paper: sparse attention for long documents."}]},
    ],
}


def test_the_prompt_holds_the_rubric_the_conversation_the_reference_and_the_candidate() -> None:
    body = judge_request(REQUEST, "Sparse attention scales to long documents.", "It makes attention sparse.")

    assert set(body) == {"messages"}  # not the call's tools, model or sampling: the client adds model, temperature 0
    system, user = body["messages"]
    assert system == {"role": "system", "content": SYSTEM}
    assert "5: equivalent" in SYSTEM and "1: not equivalent" in SYSTEM and '{"score"' in SYSTEM
    prompt = user["content"]
    assert "system: Write a one-line TL;DR.\n\nuser: Paper: sparse attention for long documents." in prompt
    assert "<reference_answer>\nSparse attention scales to long documents.\n</reference_answer>" in prompt
    assert "<candidate_answer>\nIt makes attention sparse.\n</candidate_answer>" in prompt
    assert prompt.index("<reference_answer>") < prompt.index("<candidate_answer>")


def test_tool_calls_in_the_conversation_are_written_out_and_long_parts_are_cut_in_the_middle() -> None:
    request = {
        "messages": [
            {"role": "assistant", "content": None, "tool_calls": [{"function": {"name": "lookup"}}]},
            {"role": "user", "content": "x" * (MAX_PART_CHARS * 2)},
        ]
    }
    long_reference = "start " + "y" * (MAX_PART_CHARS * 2) + " end"
    body = judge_request(request, long_reference, "")
    prompt = body["messages"][1]["content"]

    assert '[tool calls: [{"function": {"name": "lookup"}}]]' in prompt
    reference = prompt.split("<reference_answer>\n")[1].split("\n</reference_answer>")[0]
    assert reference.startswith("start ") and reference.endswith(" end")
    assert f"[... {len(long_reference) - MAX_PART_CHARS:,} characters cut ...]" in reference
    assert len(reference) < MAX_PART_CHARS + 100
    assert "<candidate_answer>\n\n</candidate_answer>" in prompt


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ('{"score": 4, "reason": "Same point, less detail."}', (4.0, "Same point, less detail.")),
        ('```json\n{"score": 5, "reason": "Equivalent."}\n```', (5.0, "Equivalent.")),
        ('Here is my grade: {"reason": "Off-topic", "score": "1"} as asked.', (1.0, "Off-topic")),
        ('<think>{"score": 1} hmm, no</think>{"score": 3, "reason": "r"}', (3.0, "r")),
        ('{"note": {"x": 1}} {"score": 2}', (2.0, "")),
        ('{"score": 4.0, "reason": 7}', (4.0, "")),
        ("Score: 5. They agree.", (5.0, "")),
    ],
)
def test_a_score_is_read_wherever_the_judge_puts_it(answer: str, expected: tuple[float, str]) -> None:
    assert parse_judgement(answer) == expected


@pytest.mark.parametrize(
    "answer",
    ["", "They are equivalent.", '{"score": 0}', '{"score": 6, "reason": "x"}', '{"score": "high"}', '{"score": true}'],
)
def test_an_answer_with_no_score_from_1_to_5_is_unreadable(answer: str) -> None:
    assert parse_judgement(answer) is None
    scored = score_judged(answer)
    assert not scored.agree and scored.reason == UNREADABLE
    assert scored.details["similarity"] is None and scored.details["judge_score"] is None
    assert scored.details["judge_answer"] == answer


def test_the_judge_agrees_at_4_of_5_by_default_and_at_the_threshold_given() -> None:
    four = score_judged('{"score": 4, "reason": "Close."}')
    three = score_judged('{"score": 3, "reason": "A fact is missing."}')

    assert four.agree and four.details | {"failures": []} == {
        "failures": [], "similarity": 0.8, "metric": "judge", "threshold": 0.8, "judge_score": 4.0,
        "judge_reason": "Close.",
    }  # fmt: skip
    assert not three.agree and three.reason == "similarity below threshold"
    assert three.details["judge_reason"] == "A fact is missing."
    assert not score_judged('{"score": 4}', threshold=1.0).agree and score_judged('{"score": 3}', threshold=0.6).agree
