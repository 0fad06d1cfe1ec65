"""The API's one error shape, and input types, shared by every router."""

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from ninja import Schema
from pydantic import AfterValidator, field_validator
from pydantic_core import PydanticCustomError

MAX_UTC_OFFSET = timedelta(hours=18)
# The most a PositiveIntegerField (a Postgres integer) holds.
MAX_DB_INT = 2**31 - 1


def _instant(value: datetime) -> datetime:
    """An offset past +/-18:00 is no real zone (and Postgres refuses it); an aware time is passed on in UTC."""
    offset = value.utcoffset()
    if offset is None:
        return value
    if abs(offset) > MAX_UTC_OFFSET:
        raise PydanticCustomError("utc_offset", "UTC offsets range from -18:00 to +18:00")
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise PydanticCustomError("datetime_range", "is out of the range of dates") from None


Instant = Annotated[datetime, AfterValidator(_instant)]


def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(key) or _holds_nul(item) for key, item in value.items())
    if isinstance(value, list | tuple | set | frozenset):
        return any(_holds_nul(item) for item in value)
    return False


class InSchema(Schema):
    """The base of every input schema: a NUL character in any string, however deep, is refused with the field
    named (Postgres stores none, in text or in jsonb, and refuses even to compare one)."""

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        if _holds_nul(value):
            raise PydanticCustomError("nul_character", "must not contain a NUL character (\\u0000)")
        return value


class FieldErrorOut(Schema):
    field: str
    message: str


class ErrorOut(Schema):
    code: str
    message: str
    errors: list[FieldErrorOut] = []
