"""Tool calls (OpenAI chat.completions `tool_calls`): two answers agree when they make the same calls, as
multisets: the same functions with the same arguments, in any order (parallel calls are unordered).
Making no call agrees with a reference that made none (the text of such answers is not compared).

Arguments are compared as JSON values (jsonvalues: key order irrelevant, 1 == 1.0), after reading them
the way the tool's JSON schema types them: "true" is true and "3" is 3 where the parameter is a boolean,
number or integer (and not also a string). Known limits: call ids are ignored, so a call that answers
another's result is not checked; the pairing of unequal calls (for the failure groups) is greedy.
Each output call's arguments are also checked against the tool's schema, as given (uncoerced).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from apps.evaluation.scoring.jsonvalues import canonical_text, coerce, loads, schema_errors
from apps.evaluation.scoring.result import CallScore, call_score, quote, ratio


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: dict[str, Any] | None  # None when they are not a JSON object
    raw: str  # the arguments as sent


def parse_tool_calls(value: Any) -> list[ToolCall]:
    """The calls in a `tool_calls` list, in an assistant message holding one, or in the list as JSON text.
    None, an empty list or a message without tool calls is no call. Arguments may be a JSON string (as
    OpenAI sends them) or an object; "" or none means no arguments."""
    if isinstance(value, dict):
        value = value.get("tool_calls")
    if isinstance(value, str):
        try:
            value = loads(value)
        except ValueError:
            return []
    calls = []
    for item in value if isinstance(value, list) else []:
        if not isinstance(item, dict):
            continue
        function = item["function"] if isinstance(item.get("function"), dict) else item
        given = function.get("arguments")
        arguments: Any
        if isinstance(given, str):
            try:
                arguments = loads(given) if given.strip() else {}
            except ValueError:
                arguments = None
        else:
            arguments = {} if given is None else given
        raw = given if isinstance(given, str) else canonical_text(given)
        calls.append(ToolCall(str(function.get("name") or ""), arguments if isinstance(arguments, dict) else None, raw))
    return calls


def tool_schemas(tools: Any) -> dict[str, dict[str, Any]]:
    """Function name -> its parameters' JSON schema, from a request's `tools` (OpenAI format)."""
    schemas = {}
    for tool in tools if isinstance(tools, list) else []:
        if not isinstance(tool, dict):
            continue
        function = tool["function"] if isinstance(tool.get("function"), dict) else tool
        if isinstance(function.get("name"), str):
            parameters = function.get("parameters")
            schemas[function["name"]] = parameters if isinstance(parameters, dict) else {}
    return schemas


def _key(call: ToolCall, schemas: dict[str, dict[str, Any]]) -> str:
    if call.arguments is None:
        return f"{call.name}\0invalid\0{call.raw}"
    return f"{call.name}\0{canonical_text(coerce(call.arguments, schemas.get(call.name)))}"


def _arguments(call: ToolCall, schemas: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Each argument's canonical text, as the schema reads it."""
    coerced = coerce(call.arguments or {}, schemas.get(call.name))
    return {key: canonical_text(value) for key, value in coerced.items()}


def _pair(ref: list[ToolCall], out: list[ToolCall], schemas: dict[str, dict[str, Any]]) -> list[tuple[int, int]]:
    """Pairs (reference index, output index): equal calls first, then calls to the same function (the
    most arguments in common), then what is left in order. Unpaired calls are missing or unexpected."""
    ref_keys = [_key(call, schemas) for call in ref]
    out_keys = [_key(call, schemas) for call in out]
    left_ref, left_out = list(range(len(ref))), list(range(len(out)))
    pairs = []

    def take(r: int, o: int) -> None:
        pairs.append((r, o))
        left_ref.remove(r)
        left_out.remove(o)

    for o in list(left_out):
        r = next((r for r in left_ref if ref_keys[r] == out_keys[o]), None)
        if r is not None:
            take(r, o)
    for o in list(left_out):
        same = [r for r in left_ref if ref[r].name == out[o].name]
        if same:
            out_args = _arguments(out[o], schemas)
            take(max(same, key=lambda r: (len(_arguments(ref[r], schemas).items() & out_args.items()), -r)), o)
    for r, o in list(zip(left_ref, left_out, strict=False)):
        take(r, o)
    return pairs


def _pair_failures(ref: ToolCall, out: ToolCall, schemas: dict[str, dict[str, Any]]) -> list[str]:
    if ref.name != out.name:
        return [f"wrong function {quote(ref.name)}->{quote(out.name)}"]
    if out.arguments is None:
        return [f"invalid arguments {quote(out.name)}"]
    if ref.arguments is None:
        return [f"wrong argument {quote(out.name)}"]
    ref_args, out_args = _arguments(ref, schemas), _arguments(out, schemas)
    return [
        f"wrong argument {quote(out.name)}.{key}"
        for key in sorted(ref_args.keys() | out_args.keys())
        if ref_args.get(key) != out_args.get(key)
    ]


def _schema_valid(call: ToolCall, schemas: dict[str, dict[str, Any]]) -> bool | None:
    """Whether the call's arguments are valid for the tool, or None when there is no tool list to check."""
    if not schemas:
        return None
    if call.arguments is None or call.name not in schemas:
        return False
    errors = schema_errors(call.arguments, schemas[call.name])
    return None if errors is None else not errors


def score_tool_calls(reference: Any, output: Any, *, tools: Any = None) -> CallScore:
    schemas = tool_schemas(tools)
    ref, out = parse_tool_calls(reference), parse_tool_calls(output)
    pairs = _pair(ref, out, schemas)
    paired_ref, paired_out = {r for r, _ in pairs}, {o for _, o in pairs}
    valid = [_schema_valid(call, schemas) for call in out]
    failures = []
    for r, o in pairs:
        if _key(ref[r], schemas) != _key(out[o], schemas):
            failures += _pair_failures(ref[r], out[o], schemas)
            if valid[o] is False and ref[r].name == out[o].name:
                failures.append(f"invalid arguments {quote(out[o].name)}")
    failures += [f"missing call {quote(ref[r].name)}" for r in range(len(ref)) if r not in paired_ref]
    failures += [f"unexpected call {quote(out[o].name)}" for o in range(len(out)) if o not in paired_out]
    same_name = [(r, o) for r, o in pairs if ref[r].name == out[o].name]
    return call_score(
        failures,
        reference_calls=len(ref),
        output_calls=len(out),
        names_correct=len(same_name),
        names_total=max(len(ref), len(out)),
        argument_pairs=len(same_name),
        arguments_correct=sum(1 for r, o in same_name if _key(ref[r], schemas) == _key(out[o], schemas)),
        arguments_checked=sum(1 for v in valid if v is not None),
        arguments_valid=sum(1 for v in valid if v),
    )


def summarise_tool_calls(scores: Sequence[CallScore]) -> dict[str, Any]:
    """Function-name accuracy (calls to the right function over the larger of the two call counts, summed
    over calls), argument accuracy (right arguments among calls to the right function), no-call accuracy
    (among calls where the reference made no call, the share where the output made none either), the
    share of output calls whose arguments are valid for their tool, and exact match (= agreement)."""
    details = [s.details for s in scores]
    no_call = [d for d in details if d["reference_calls"] == 0]
    return {
        "function_name_accuracy": ratio(
            sum(d["names_correct"] for d in details), sum(d["names_total"] for d in details)
        ),
        "argument_accuracy": ratio(
            sum(d["arguments_correct"] for d in details), sum(d["argument_pairs"] for d in details)
        ),
        "no_call_accuracy": ratio(sum(1 for d in no_call if d["output_calls"] == 0), len(no_call)),
        "arguments_valid_rate": ratio(
            sum(d["arguments_valid"] for d in details), sum(d["arguments_checked"] for d in details)
        ),
        "exact_match": ratio(sum(1 for s in scores if s.agree), len(scores)),
    }
