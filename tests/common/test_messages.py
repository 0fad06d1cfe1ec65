"""The one reading of message content that validation, eligibility, discovery, datasets and training share."""

from apps.common.messages import content_text
from workers.jobs.training.data import normalise_messages


def test_a_string_is_itself_and_none_or_other_values_read_as_empty() -> None:
    assert content_text("Hello") == "Hello"
    assert content_text(None) == "" and content_text(42) == "" and content_text({"text": "x"}) == ""


def test_text_parts_of_every_text_type_are_joined_by_a_space_and_other_parts_carry_no_text() -> None:
    parts = [
        {"type": "text", "text": "Describe"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
        {"type": "input_text", "text": "this"},
        {"type": "output_text", "text": "picture"},
        {"type": "text", "text": 7},
        "loose string",
        {"type": "refusal", "refusal": "no"},
    ]
    assert content_text(parts) == "Describe this picture"


def test_training_reads_content_the_same_way() -> None:
    messages = [{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}]
    assert normalise_messages(messages)[0]["content"] == content_text(messages[0]["content"]) == "a b"
