"""Reading an evaluation on its report: answers side by side, and numbers in a product owner's words."""

from decimal import Decimal
from typing import Any

from django import template

from apps.common.messages import content_text
from apps.common.templatetags.chat import Clipped, format_arguments, preview

register = template.Library()


@register.filter
def answer_calls(message: Any) -> list[dict[str, Any]]:
    """An answer's tool calls as {"name", "arguments"} (arguments indented, a screenful)."""
    if not isinstance(message, dict) or not isinstance(message.get("tool_calls"), list):
        return []
    calls = []
    for item in message["tool_calls"][:50]:
        function = item.get("function") if isinstance(item, dict) else None
        if isinstance(function, dict):
            arguments = format_arguments(function.get("arguments"))
            calls.append({"name": function.get("name") or "(unnamed)", "arguments": arguments})
    return calls


@register.filter
def answer_text(message: Any) -> Clipped:
    """An answer's text; a JSON object or array is indented."""
    if isinstance(message, dict):
        return preview(content_text(message.get("content")) or "")
    return preview("" if message is None else message)


@register.filter
def share(part: float | int | None, whole: float | int | None) -> str:
    """12, 200 -> "6%"."""
    if part is None or not whole:
        return "—"
    value = 100 * float(part) / float(whole)
    return f"{value:.0f}%" if value >= 10 or value == 0 else f"{value:.1f}%"


@register.filter
def absolute(value: Decimal | None) -> Decimal | None:
    return None if value is None else abs(value)


@register.filter
def times(value: float | None) -> str:
    """3.24 -> "3.2x"."""
    return "—" if value is None else f"{value:.1f}x"
