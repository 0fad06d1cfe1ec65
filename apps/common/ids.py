import uuid
from typing import Any


def as_uuid(value: Any) -> uuid.UUID | None:
    """A UUID from a URL or form value, or None when it is not one."""
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except (ValueError, TypeError, AttributeError):
        return None
