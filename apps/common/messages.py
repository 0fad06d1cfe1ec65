"""Chat messages as text: the one reading of OpenAI message content that every step shares (validation,
eligibility, discovery, datasets, training). Free of Django, so workers/ may import it too."""

from typing import Any

TEXT_PART_TYPES = frozenset({"text", "input_text", "output_text"})


def content_text(content: Any) -> str:
    """A message's content as text: a string as it is, or the text of its text parts joined by a space.
    Images, audio and other parts carry no text; None and anything else read as empty."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            part["text"]
            for part in content
            if isinstance(part, dict) and part.get("type") in TEXT_PART_TYPES and isinstance(part.get("text"), str)
        )
    return ""
