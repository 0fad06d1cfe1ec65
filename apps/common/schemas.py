"""The API's one error shape, and input types, shared by every router."""

from datetime import UTC, datetime, timedelta
from typing import Annotated

from ninja import Schema
from pydantic import AfterValidator
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


class FieldErrorOut(Schema):
    field: str
    message: str


class ErrorOut(Schema):
    code: str
    message: str
    errors: list[FieldErrorOut] = []
