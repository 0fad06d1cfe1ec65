"""Task names drawn from the instruction in a call site's system prompt and the shape of its answers."""

from typing import Any

import pytest

from apps.discovery.naming import NAME_MAX, distinct_names, instruction, keyword_name, task_name
from apps.discovery.texts import OutputKind, normalise

KEYWORDS = ["film", "good", "great"]


def name(prompt: str, kind: str = OutputKind.TEXT, users: list[str] | None = None) -> str:
    return task_name(system_prompts=[normalise(prompt)], user_texts=users or [], output_kind=kind, keywords=KEYWORDS)


def test_the_sample_tasks_get_the_names_a_person_would_give(sample_records: list[dict[str, Any]]) -> None:
    kinds = {
        "sentiment_classification": OutputKind.LABEL,
        "intent_classification": OutputKind.LABEL,
        "ticket_triage_json": OutputKind.JSON,
        "slot_filling_json": OutputKind.JSON,
        "text_to_sql": OutputKind.SQL,
        "function_calling": OutputKind.TOOL_CALLS,
        "summarization_tldr": OutputKind.TEXT,
        "math_word_problem": OutputKind.TEXT,
    }
    prompts = {}
    for record in sample_records:
        messages = record["request"]["messages"]
        prompts.setdefault(record["task"], " ".join(m["content"] for m in messages if m["role"] == "system"))
    names = {task: name(prompts[task], kinds[task]) for task in kinds}
    assert names == {
        "sentiment_classification": "Classify customer review sentiment",
        "intent_classification": "Classify user utterance into intents",
        "ticket_triage_json": "Route customer message as JSON",
        "slot_filling_json": "Parse user command into JSON object",
        "text_to_sql": "Translate student question into MySQL query",
        "function_calling": "Call tools to manage user agenda",
        "summarization_tldr": "Write TL;DRs for paper-recommendation feed",
        "math_word_problem": "Solve word problem",
    }


@pytest.mark.parametrize(
    ("prompt", "kind", "expected"),
    [
        # "You are a ... that/who <verb>s ..."
        (
            "You are a helpful assistant that extracts invoice fields (number, date, total) and returns them.",
            OutputKind.JSON,
            "Extract invoice fields as JSON",
        ),
        ("You are an expert at extracting structured data from invoices.", OutputKind.JSON,
         "Extract structured data from invoices as JSON"),
        # "Your job / task is to ..."
        ("Your job is to answer customer questions about billing and refunds.", OutputKind.TEXT,
         "Answer customer questions about billing and refunds"),
        ("Your task is to write SQL queries for sales questions against our warehouse.", OutputKind.SQL,
         "Write SQL queries for sales questions"),
        # "Given X, <verb> Y" and "For each X, <verb> its Y"
        ("Given a product description, return its category.", OutputKind.LABEL,
         "Return category for product description (labels)"),
        ("Given an invoice, extract the fields of the invoice.", OutputKind.JSON, "Extract invoice fields as JSON"),
        ("For each review, classify its sentiment as positive, negative or neutral.", OutputKind.LABEL,
         "Classify review sentiment"),
        # a role first, the instruction after it; a weak verb ("read") gives way to the real one
        ("You are a travel agent. Use the tools to book flights and hotels for the user.", OutputKind.TOOL_CALLS,
         "Call tools to book flights and hotels for user"),
        ("Read the customer's email and decide whether it is spam.", OutputKind.LABEL,
         "Decide whether customer email is spam"),
        ("You are a support bot for a company that sells shoes. Answer customer questions politely.",
         OutputKind.TEXT, "Answer customer questions"),
        ("You will be given a Python function. Find the bugs and fix them.", OutputKind.CODE, "Find bugs (code)"),
        ("You help users find products in our catalog.", OutputKind.TOOL_CALLS, "Find products with tools"),
        ("Summarize the following article in three bullet points.", OutputKind.TEXT, "Summarize article"),
        ("Translate the user's message from English to German.", OutputKind.TEXT,
         "Translate user message from English to German"),
        # short prompts: "You <verb> ...", a role noun, shouting
        ("You route tickets. Today is 2024-05-01.", OutputKind.LABEL, "Route tickets"),
        ("You are a sentiment classifier.", OutputKind.LABEL, "Classify sentiment"),
        ("You are an English to French translator.", OutputKind.TEXT, "Translate English to French"),
        ("SYSTEM: YOU ARE A CLASSIFIER. CLASSIFY THE TICKET PRIORITY.", OutputKind.LABEL, "Classify ticket priority"),
        ("Classify the ticket.", OutputKind.LABEL, "Classify ticket"),
        # common agent prompts
        ("You are an AI assistant that helps people find information.", OutputKind.TEXT, "Find information"),
        ("You are a coding assistant. Write clean, well-documented Python code.", OutputKind.CODE,
         "Write well-documented Python code"),
        ("You are a content moderator. Determine if the following comment violates our community guidelines. "
         "Reply with SAFE or UNSAFE.", OutputKind.LABEL, "Determine if comment violates community guidelines"),
        ("You're a bot that tags GitHub issues with labels like bug, feature, question.", OutputKind.LABEL,
         "Tag GitHub issues"),
        ("Identify the language of the given text. Output the ISO 639-1 code only.", OutputKind.LABEL,
         "Identify text language"),
    ],
)  # fmt: skip
def test_names_come_from_the_main_verb_phrase_of_the_instruction(prompt: str, kind: str, expected: str) -> None:
    assert name(prompt, kind) == expected


@pytest.mark.parametrize(
    "prompt",
    [
        "You are a helpful assistant.",
        "You are a helpful, respectful and honest assistant. Always answer as helpfully as possible.",
        "You are ChatGPT, a large language model trained by OpenAI. Knowledge cutoff: 2023-10.",
        "Be concise.",
        "Sentiment?",
        "Respond with a JSON object only.",
        "Tu es un assistant. Classe les avis en positif ou négatif.",
        "Du bist ein hilfreicher Assistent. Fasse den Text zusammen.",
        "Context: the store opens at 9am and closes at 6pm.",
        "",
    ],
)
def test_with_no_instruction_the_name_falls_back_to_the_keywords(prompt: str) -> None:
    assert instruction(normalise(prompt)) is None
    assert name(prompt, OutputKind.LABEL) == "Film / good / great (labels)"


def test_without_a_system_prompt_the_instruction_most_user_turns_share_names_the_task() -> None:
    users = [f"Summarize this article: {topic} news of the day" for topic in ("sports", "tech", "local")]
    users.append("what is the weather like")
    assert name("", OutputKind.TEXT, users) == "Summarize article"
    # one user turn in ten is not enough to name the task
    assert name("", OutputKind.TEXT, users[:1] + ["hello there"] * 9) == "Film / good / great (text)"


def test_the_answers_shape_is_added_only_when_the_name_does_not_say_it() -> None:
    assert name("Extract the parties from the contract.", OutputKind.JSON) == "Extract parties from contract as JSON"
    assert name("Convert the request into a JSON object.", OutputKind.JSON) == "Convert request into JSON object"
    assert name("Answer with yes or no: is the review about food?", OutputKind.LABEL) == "Film / good / great (labels)"
    assert name("Decide whether the review is about food.", OutputKind.LABEL) == "Decide whether review is about food"
    assert name("Answer the question about the schema.", OutputKind.SQL) == "Answer question about schema as SQL"
    assert name("Write a SQL query for the question.", OutputKind.SQL) == "Write SQL query for question"
    assert name("Book a table for the user.", OutputKind.TOOL_CALLS) == "Book table for user with tools"


def test_names_are_short_and_capitalised() -> None:
    long = (
        "Your task is to extract every monetary amount, currency, counterparty, booking date and value date from "
        "the supplied multi-page international bank statement"
    )
    for prompt in (long, "you classify tickets", "classify the TICKET"):
        found = name(prompt, OutputKind.JSON)
        assert len(found) <= NAME_MAX and found[0].isupper(), found
    assert len(keyword_name(["x" * 40, "y" * 40, "z" * 40], OutputKind.JSON)) <= NAME_MAX


def test_names_are_distinct_within_a_run() -> None:
    names = {"a": "Classify review sentiment", "b": "Classify review sentiment", "c": "Route tickets"}
    words = {"a": ["film", "actor"], "b": ["hotel", "room"], "c": ["ticket"]}
    assert distinct_names(names, words) == {
        "a": "Classify review sentiment (film)",
        "b": "Classify review sentiment (hotel)",
        "c": "Route tickets",
    }
    # a name another task keeps (people set it) is taken too; no keyword of its own -> a number
    assert distinct_names({"c": "Route tickets"}, {"c": ["ticket"]}, taken=["Route tickets"]) == {
        "c": "Route tickets 2"
    }
