"""Free text judged by an LLM: the fixed rubric prompt a judge model is sent, and the reading of its answer.
Pure functions of plain values; the job (apps.evaluation.execution) sends the prompt to the task's judge
endpoint at temperature 0.

The judge sees the conversation the agent sent (the call's request messages), the LLM's logged answer as the
reference, and the candidate's answer, and grades how far the candidate's answer is equivalent to the
reference on a 1 to 5 rubric, answering {"score": n, "reason": "..."}. The call's similarity is score / 5,
so the judge's default threshold, 0.8, is a score of 4 or 5.

Known limits: a judge is a model: it can be wrong, lenient or swayed by style, and a different judge model
gives different scores; its temperature is 0 but a server may still not be deterministic. It grades
against the LLM's answer, not against the truth. Long conversations and answers are cut in the middle
(MAX_PART_CHARS each) to fit a judge's context window. The judge's own cost is not counted in the
candidate's cost.
"""

import json
import re
from typing import Any

from apps.common.messages import content_text
from apps.evaluation.scoring.result import CallScore, call_score
from apps.evaluation.scoring.text import JUDGE, similarity_score, threshold_of

UNREADABLE = "judge answer unreadable"
MAX_SCORE = 5
MAX_PART_CHARS = 6000
REASON_CHARS = 300

SYSTEM = (
    "You are a strict grader. You compare a candidate answer with a reference answer to the same conversation "
    "and grade how far the candidate is equivalent to the reference: whether a user would get the same "
    "information and could act the same way. Wording, length and style do not matter; facts, numbers, "
    "negations, names and the requested format do. Do not grade which answer is better or truer: the "
    "reference is the standard.\n\n"
    "Rubric:\n"
    "5: equivalent: the same meaning and every fact of the reference.\n"
    "4: equivalent for the user: a small omission or addition that changes nothing they would act on.\n"
    "3: partly equivalent: a fact that matters is missing, added or different.\n"
    "2: mostly different: the main point differs or is wrong.\n"
    "1: not equivalent: it contradicts the reference, is off-topic, refuses, or is empty.\n\n"
    'Answer with only a JSON object: {"score": <1 to 5>, "reason": "<one short sentence>"}.'
)

_THINKING = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)
_SCORE = re.compile(r"""["']?\bscore["']?\s*[:=]\s*["']?(\d+(?:\.\d+)?)""", re.IGNORECASE)


def _cut(text: str, limit: int = MAX_PART_CHARS) -> str:
    """At most `limit` characters: the start and the end, with what was cut in the middle said."""
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]}\n[... {len(text) - 2 * half:,} characters cut ...]\n{text[-half:]}"


def _message_text(message: dict[str, Any]) -> str:
    text = content_text(message.get("content"))
    calls = message.get("tool_calls")
    if calls:
        text = f"{text}\n[tool calls: {json.dumps(calls, ensure_ascii=False)}]".strip()
    return text


def conversation_text(messages: Any) -> str:
    """The request's messages as "role: text" paragraphs (tool calls written out as JSON)."""
    if not isinstance(messages, list):
        return ""
    turns = [m for m in messages if isinstance(m, dict)]
    return "\n\n".join(f"{m.get('role', 'user')}: {_message_text(m)}" for m in turns)


def judge_request(request: dict[str, Any] | None, reference: str, output: str) -> dict[str, Any]:
    """The chat.completions request asking the judge to grade `output` against `reference` for the
    conversation of the logged `request` (only its messages: not its tools or response format)."""
    conversation = _cut(conversation_text((request or {}).get("messages")))
    prompt = (
        f"<conversation>\n{conversation}\n</conversation>\n\n"
        f"<reference_answer>\n{_cut(reference)}\n</reference_answer>\n\n"
        f"<candidate_answer>\n{_cut(output)}\n</candidate_answer>\n\n"
        "Grade the candidate answer against the reference answer with the rubric. "
        'Answer with only the JSON object {"score": <1 to 5>, "reason": "..."}.'
    )
    return {"messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": prompt}]}


def _objects(text: str) -> list[Any]:
    """Every JSON object that starts at a "{" in the text, in order."""
    decoder = json.JSONDecoder()
    found = []
    for start in (i for i, char in enumerate(text) if char == "{"):
        try:
            value, _ = decoder.raw_decode(text, start)
        except ValueError:
            continue
        found.append(value)
    return found


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def parse_judgement(text: str) -> tuple[float, str] | None:
    """The judge's score (1 to 5) and reason from its answer: a JSON object with "score" (a number or a
    numeric string), also inside a code fence, after prose, or after a <think> block; else a bare
    `score: n`. None when no score from 1 to 5 can be read."""
    text = _THINKING.sub("", text or "")
    for value in _objects(text):
        if isinstance(value, dict) and "score" in value:
            number = _number(value["score"])
            if number is not None and 1 <= number <= MAX_SCORE:
                reason = value.get("reason")
                return number, (reason if isinstance(reason, str) else "")
    match = _SCORE.search(text)
    if match and 1 <= float(match.group(1)) <= MAX_SCORE:
        return float(match.group(1)), ""
    return None


def score_judged(answer: str, *, threshold: float | None = None) -> CallScore:
    """One call scored from its judge's answer: similarity score / 5 against the threshold (default 0.8: a
    score of 4 or 5). An answer with no readable score disagrees, as UNREADABLE, with no similarity."""
    judged = parse_judgement(answer)
    if judged is None:
        return call_score(
            [UNREADABLE],
            similarity=None,
            metric=JUDGE,
            threshold=threshold_of(JUDGE, threshold),
            judge_score=None,
            judge_answer=(answer or "")[:REASON_CHARS],
        )
    number, reason = judged
    return similarity_score(
        number / MAX_SCORE, metric=JUDGE, threshold=threshold, judge_score=number, judge_reason=reason[:REASON_CHARS]
    )
