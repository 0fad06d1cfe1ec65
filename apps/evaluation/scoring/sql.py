"""SQL answers: two answers agree when they are the same query once parsed and re-rendered by sqlglot, so
what does not change the query does not count: spacing, line breaks, comments, keyword case, unquoted
identifier case, `AS` or not, `INNER JOIN` / `JOIN`, `LEFT OUTER JOIN` / `LEFT JOIN`, `ASC` or not,
`!=` / `<>`, a trailing semicolon, a ```sql fence, and the spelling of table, subquery and CTE aliases
(each becomes t1, t2... or c1, c2... in order of appearance, and qualified columns follow their table).

Known limits: only the spelling is normalised, not the meaning: reordered conditions, select lists or
joins, `users.id` against a bare `id`, and queries that differ but return the same rows all count as
different; output column aliases (`AS total`) count, since a caller reads rows by those names; aliases
are renamed by name across the statement, so one alias reused in two subqueries for different tables
keeps one canonical name. A query sqlglot cannot parse is compared as text (whitespace collapsed, case
folded, literals included), and the call records "unparseable SQL".
"""

import re
from collections.abc import Sequence
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.optimizer.normalize_identifiers import normalize_identifiers

from apps.evaluation.scoring.result import CallScore, call_score, ratio

UNPARSEABLE = "unparseable SQL"
DIFFERENT = "different query"
_FENCE = re.compile(r"^\s*```[ \t]*(?:sql)?[ \t]*\n?(.*?)(?:```\s*)?$", re.S | re.I)
# The clauses of a SELECT named in the failure groups ("different WHERE"): sqlglot's argument -> name.
_CLAUSES = {
    "with_": "WITH",
    "expressions": "SELECT list",
    "distinct": "DISTINCT",
    "from_": "FROM",
    "joins": "JOIN",
    "where": "WHERE",
    "group": "GROUP BY",
    "having": "HAVING",
    "order": "ORDER BY",
    "limit": "LIMIT",
    "offset": "OFFSET",
}


def strip_fence(text: str) -> str:
    fence = _FENCE.match(text)
    return fence.group(1) if fence else text


def _rename_aliases(statement: exp.Expr) -> None:
    """Table, subquery and CTE aliases become t1, t2..., CTE names c1, c2..., in order of appearance; a
    table read in FROM or JOIN without an alias gets one; column qualifiers follow."""
    ctes: dict[str, str] = {}
    for cte in statement.find_all(exp.CTE):
        alias = cte.args.get("alias")
        if isinstance(alias, exp.TableAlias) and cte.alias:
            ctes[cte.alias.lower()] = f"c{len(ctes) + 1}"
            alias.set("this", exp.to_identifier(ctes[cte.alias.lower()]))
    names: dict[str, str] = {}
    for node in statement.walk(bfs=False):
        if isinstance(node, exp.Table) and isinstance(node.this, exp.Identifier):
            if not node.args.get("db") and node.name.lower() in ctes:
                node.set("this", exp.to_identifier(ctes[node.name.lower()]))
            if not node.alias and not isinstance(node.parent, exp.From | exp.Join):
                continue
            old = (node.alias or node.name).lower()
        elif isinstance(node, exp.Subquery | exp.Lateral) and node.alias:
            old = node.alias.lower()
        else:
            continue
        new = names.setdefault(old, f"t{len(names) + 1}")
        alias = node.args.get("alias")
        if isinstance(alias, exp.TableAlias):
            alias.set("this", exp.to_identifier(new))
        else:
            node.set("alias", exp.TableAlias(this=exp.to_identifier(new)))
    for column in statement.find_all(exp.Column):
        table = column.args.get("table")
        if isinstance(table, exp.Identifier) and table.name.lower() in names:
            column.set("table", exp.to_identifier(names[table.name.lower()]))
            column.set("db", None)
            column.set("catalog", None)


def _tidy(statement: exp.Expr) -> None:
    for join in statement.find_all(exp.Join):
        if (join.args.get("kind") or "").upper() == "INNER" or (
            join.args.get("side") and (join.args.get("kind") or "").upper() == "OUTER"
        ):
            join.set("kind", None)
    for ordered in statement.find_all(exp.Ordered):
        if ordered.args.get("desc") is False:
            ordered.set("desc", None)


def parse_sql(sql: str, *, dialect: str | None = None) -> list[exp.Expr] | None:
    """The normalised statements of `sql`, or None when sqlglot cannot parse it."""
    try:
        statements = [s for s in sqlglot.parse(strip_fence(sql), read=dialect) if s is not None]
    except SqlglotError:
        return None
    if not statements:
        return None
    normalised = []
    for statement in statements:
        statement = normalize_identifiers(statement, dialect=dialect)
        _rename_aliases(statement)
        _tidy(statement)
        normalised.append(statement)
    return normalised


def normalise_sql(sql: str, *, dialect: str | None = None) -> str | None:
    """The query as one canonical text, or None when sqlglot cannot parse it."""
    statements = parse_sql(sql, dialect=dialect)
    return None if statements is None else _render(statements, dialect)


def _render(statements: list[exp.Expr], dialect: str | None) -> str:
    return "; ".join(statement.sql(dialect=dialect, comments=False) for statement in statements)


def _as_text(sql: str) -> str:
    return " ".join(strip_fence(sql).casefold().split()).rstrip(";").strip()


def _differences(reference: list[exp.Expr], output: list[exp.Expr], dialect: str | None) -> list[str]:
    """Which clauses differ, when both are one SELECT; else "different query" (also when the SELECTs
    differ only in something not listed in _CLAUSES)."""
    if len(reference) == len(output) == 1 and isinstance(reference[0], exp.Select):
        ref, out = reference[0], output[0]
        if isinstance(out, exp.Select):
            found = []
            for clause, name in _CLAUSES.items():
                mine, theirs = ref.args.get(clause), out.args.get(clause)
                as_text = [
                    [part.sql(dialect=dialect) for part in (value if isinstance(value, list) else [value]) if part]
                    for value in (mine, theirs)
                ]
                if as_text[0] != as_text[1]:
                    found.append(f"different {name}")
            if found:
                return found
    return [DIFFERENT]


def score_sql(reference: str, output: str, *, dialect: str | None = None) -> CallScore:
    ref, out = parse_sql(reference, dialect=dialect), parse_sql(output, dialect=dialect)
    if ref is None or out is None:
        same = _as_text(reference) == _as_text(output)
        failures = [] if same else [UNPARSEABLE if out is None else DIFFERENT]
        return call_score(failures, parsed=out is not None, reference_parsed=ref is not None)
    ref_text, out_text = _render(ref, dialect), _render(out, dialect)
    failures = [] if ref_text == out_text else _differences(ref, out, dialect)
    return call_score(failures, parsed=True, reference_parsed=True, output_sql=out_text)


def summarise_sql(scores: Sequence[CallScore]) -> dict[str, Any]:
    return {
        "exact_match": ratio(sum(1 for s in scores if s.agree), len(scores)),
        "parse_rate": ratio(sum(1 for s in scores if s.details.get("parsed")), len(scores)),
        "unparseable_references": sum(1 for s in scores if not s.details.get("reference_parsed")),
    }
