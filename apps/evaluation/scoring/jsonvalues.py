"""JSON values compared as values: numbers by value (1 == 1.0), objects by keys (order irrelevant),
booleans apart from numbers (true != 1), strings exactly. Shared by the JSON and tool-call scorers.

Also the JSON Schema checks. They use the `jsonschema` package when it is installed (every draft, every
keyword). Without it a small subset is checked: type, enum, const, required, properties,
additionalProperties and items; other keywords (anyOf, $ref, patterns, bounds...) are not checked.
"""

import json
import math
import re
from typing import Any

try:
    import jsonschema
except ImportError:  # an optional dependency: the subset below checks without it
    jsonschema = None

_INDEX = re.compile(r"\[\d+\]")
ROOT = "$"
MAX_SCHEMA_ERRORS = 10


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_STRICT = json.JSONDecoder(parse_constant=_reject_constant)


def loads(text: str) -> Any:
    """Strict JSON: NaN and Infinity, which Python's json accepts, are refused."""
    return _STRICT.decode(text)


def raw_decode(text: str, start: int) -> tuple[Any, int]:
    """The JSON value that starts at `start` and where it ends, as strict as loads."""
    return _STRICT.raw_decode(text, start)


def json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    return "string" if isinstance(value, str) else "null"


def canonical(value: Any) -> Any:
    """A float with an integral value becomes an int (1.0 -> 1, -0.0 -> 0), recursively."""
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {str(key): canonical(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [canonical(item) for item in value]
    return value


def canonical_text(value: Any) -> str:
    """One text per JSON value, to compare and count values (Python's True == 1; this text tells them apart)."""
    return json.dumps(canonical(value), sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def flatten(value: Any, path: str = "") -> dict[str, str]:
    """Each leaf (a scalar, {} or []) at its key path ("slots.city", "items[0].price"; "$" for a scalar
    root) -> its canonical text. Known limit: a key containing "." or "[" can collide with a nested path."""
    if isinstance(value, dict) and value:
        found: dict[str, str] = {}
        for key, item in value.items():
            found.update(flatten(item, f"{path}.{key}" if path else str(key)))
        return found
    if isinstance(value, list) and value:
        found = {}
        for index, item in enumerate(value):
            found.update(flatten(item, f"{path}[{index}]"))
        return found
    return {path or ROOT: canonical_text(value)}


def generalise(path: str) -> str:
    """A key path with its list indices dropped ("items[3].price" -> "items[].price"), to group failures."""
    return _INDEX.sub("[]", path)


def _types(schema: dict[str, Any]) -> set[str]:
    kind = schema.get("type")
    if isinstance(kind, str):
        return {kind}
    if isinstance(kind, list):
        return {item for item in kind if isinstance(item, str)}
    return set()


def _is_type(value: Any, kind: str) -> bool:
    if kind == "integer":
        return isinstance(value, int | float) and not isinstance(value, bool) and float(value).is_integer()
    checks: dict[str, Any] = {
        "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        "boolean": lambda v: isinstance(v, bool),
        "string": lambda v: isinstance(v, str),
        "null": lambda v: v is None,
        "object": lambda v: isinstance(v, dict),
        "array": lambda v: isinstance(v, list),
    }
    return kind not in checks or bool(checks[kind](value))


def _subset_errors(value: Any, schema: Any, path: str) -> list[str]:
    if not isinstance(schema, dict):
        return []
    at = path or ROOT
    kinds = _types(schema)
    if kinds and not any(_is_type(value, kind) for kind in kinds):
        return [f"{at}: expected {' or '.join(sorted(kinds))}"]
    errors = []
    if "enum" in schema and isinstance(schema["enum"], list):
        if canonical_text(value) not in {canonical_text(option) for option in schema["enum"]}:
            errors.append(f"{at}: not one of the enum")
    if "const" in schema and canonical_text(value) != canonical_text(schema["const"]):
        errors.append(f"{at}: not the const")
    if isinstance(value, dict):
        properties = schema.get("properties")
        properties = properties if isinstance(properties, dict) else {}
        errors += [f"{at}: missing {key}" for key in schema.get("required") or [] if key not in value]
        extra = schema.get("additionalProperties", True)
        for key, item in value.items():
            child = f"{path}.{key}" if path else str(key)
            if key in properties:
                errors += _subset_errors(item, properties[key], child)
            elif extra is False:
                errors.append(f"{child}: not allowed")
            else:
                errors += _subset_errors(item, extra, child)
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            errors += _subset_errors(item, schema["items"], f"{path}[{index}]")
    return errors


def schema_errors(value: Any, schema: dict[str, Any]) -> list[str] | None:
    """Where `value` breaks `schema` (empty when valid), or None when the schema itself is invalid."""
    if jsonschema is None:
        return _subset_errors(value, schema, "")[:MAX_SCHEMA_ERRORS]
    try:
        validator_class = jsonschema.validators.validator_for(schema)
        validator_class.check_schema(schema)
    except jsonschema.SchemaError:
        return None
    errors = []
    for error in validator_class(schema).iter_errors(value):
        errors.append(f"{error.json_path}: {error.message}")
        if len(errors) == MAX_SCHEMA_ERRORS:
            break
    return errors


def coerce(value: Any, schema: Any) -> Any:
    """A value read the way the schema types it: the string "true"/"false" where a boolean is expected,
    a numeric string ("3", "2.5") where a number or integer is expected, through properties and items.
    A string stays a string wherever the schema also allows strings. Known limit: anyOf/oneOf/$ref are
    not followed."""
    if not isinstance(schema, dict):
        return value
    kinds = _types(schema)
    if isinstance(value, str) and kinds and "string" not in kinds:
        text = value.strip()
        if "boolean" in kinds and text.lower() in ("true", "false"):
            return text.lower() == "true"
        if kinds & {"number", "integer"}:
            try:
                number = loads(text)
            except ValueError:
                return value
            if isinstance(number, int | float) and not isinstance(number, bool):
                return number
        return value
    if isinstance(value, dict) and isinstance(schema.get("properties"), dict):
        properties = schema["properties"]
        return {key: coerce(item, properties.get(key)) for key, item in value.items()}
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [coerce(item, schema["items"]) for item in value]
    return value
