"""How a logged request is put to a local model (the same for training and evaluation), and how its text
is read back as an assistant message."""

import json
from types import SimpleNamespace
from typing import Any

from workers.jobs.prompts import TemplateSupport, answer_message, chat_turns, template_support
from workers.jobs.training import render_example

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather in a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        },
    }
]
CHATML = (  # SmolLM2's template: no tools, no tool calls
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
PLAIN = TemplateSupport(tools=False, tool_calls=False)
NATIVE = TemplateSupport(tools=True, tool_calls=True)
CALL = {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}


def conversation() -> list[dict[str, Any]]:
    return [
        {"role": "developer", "content": "You are a weather bot."},
        {"role": "user", "content": [{"type": "text", "text": "Weather in Paris?"}]},
    ]


def test_a_template_says_whether_it_renders_tools_and_tool_calls() -> None:
    assert template_support(SimpleNamespace(chat_template=CHATML)) == PLAIN
    assert template_support(SimpleNamespace(chat_template="{{ tools }} {{ m.tool_calls }}")) == NATIVE
    assert template_support(SimpleNamespace(chat_template=None)) == PLAIN


def test_tools_go_through_a_template_that_renders_them() -> None:
    messages, tools = chat_turns(conversation(), support=NATIVE, tools=TOOLS, tool_choice="auto")
    assert tools == TOOLS
    assert messages == [
        {"role": "system", "content": "You are a weather bot."},
        {"role": "user", "content": "Weather in Paris?"},
    ]


def test_without_template_support_tools_are_described_in_the_system_message_and_calls_written_as_text() -> None:
    history = [*conversation(), {"role": "assistant", "content": None, "tool_calls": [CALL]}]
    history += [{"role": "tool", "tool_call_id": "c1", "content": "sunny"}, {"role": "user", "content": "And Rome?"}]
    messages, tools = chat_turns(history, support=PLAIN, tools=TOOLS, tool_choice="required")
    assert tools is None
    system = messages[0]["content"]
    assert system.startswith("You are a weather bot.\n\nYou can call these functions:\n")
    assert json.dumps(TOOLS[0]["function"]) in system and "<tool_call>" in system
    assert system.endswith("Answer by calling one or more of the functions.")
    assert messages[2] == {
        "role": "assistant",
        "content": '<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>',
    }
    assert chat_turns(history, support=PLAIN, tools=TOOLS, tool_choice="none")[0][0]["content"] == (
        "You are a weather bot."
    )


def test_response_format_becomes_an_instruction() -> None:
    schema = {"type": "object", "properties": {"label": {"type": "string"}}}
    fmt = {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}
    messages, _ = chat_turns([{"role": "user", "content": "hi"}], support=PLAIN, response_format=fmt)
    assert messages[0] == {
        "role": "system",
        "content": f"Answer with a JSON object only, valid against this JSON schema:\n{json.dumps(schema)}",
    }
    messages, _ = chat_turns(conversation(), support=PLAIN, response_format={"type": "json_object"})
    assert messages[0]["content"] == "You are a weather bot.\n\nAnswer with a JSON object only."


def test_a_specialist_is_trained_on_the_prompt_evaluation_asks_it() -> None:
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = Tokenizer(models.WordLevel({"<unk>": 0, "<|im_end|>": 1}, unk_token="<unk>"))
    words.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=words, unk_token="<unk>", eos_token="<|im_end|>")
    tokenizer.chat_template = CHATML
    answer = {"role": "assistant", "content": None, "tool_calls": [CALL]}
    example = render_example(tokenizer, [*conversation(), answer], TOOLS)
    assert example is not None
    messages, tools = chat_turns(conversation(), support=template_support(tokenizer), tools=TOOLS)
    prompt = tokenizer.apply_chat_template(messages, tools=tools, tokenize=False, add_generation_prompt=True)
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    assert example.input_ids[: len(prompt_ids)] == prompt_ids  # the same prompt, then the answer
    assert all(label == -100 for label in example.labels[: len(prompt_ids)])


def test_tool_calls_are_read_back_from_tags_or_bare_json_only_when_tools_were_offered() -> None:
    text = 'Sure. <tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>'
    assert answer_message(text, tools_offered=True) == {
        "role": "assistant",
        "content": "Sure.",
        "tool_calls": [
            {"id": "call_0", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}
        ],
    }
    parallel = '[{"name": "a", "parameters": {"x": 1}}, {"name": "b", "arguments": "{}"}]'
    calls = answer_message(parallel, tools_offered=True)["tool_calls"]
    assert [(c["function"]["name"], c["function"]["arguments"]) for c in calls] == [("a", '{"x": 1}'), ("b", "{}")]
    unterminated = answer_message('<tool_call>{"name": "a", "arguments": {}}', tools_offered=True)
    assert unterminated["tool_calls"][0]["function"]["name"] == "a" and unterminated["content"] is None
    as_json = '{"name": "a", "arguments": {}}'
    assert answer_message(as_json, tools_offered=False) == {"role": "assistant", "content": as_json}
    assert answer_message(" positive\n", tools_offered=True) == {"role": "assistant", "content": "positive"}
