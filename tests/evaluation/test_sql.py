"""SQL agrees when it is the same query once parsed and re-rendered: spelling does not count, meaning does."""

import pytest

from apps.evaluation.scoring.sql import normalise_sql, score_sql, summarise_sql


@pytest.mark.parametrize(
    ("reference", "output"),
    [
        ("select name from users where age>3", "SELECT name\n  FROM users\n WHERE age > 3;"),
        ("SELECT Name FROM Users", "select name from users"),
        ("select u.name from users u", "SELECT x.name FROM users AS x"),
        ("select users.name from users", "select u.name from users u"),
        (
            "select u.name, count(*) as n from users u join orders o on o.user_id = u.id group by u.name",
            "SELECT a.name, COUNT(*) n FROM users a INNER JOIN orders b ON b.user_id = a.id GROUP BY a.name",
        ),
        ("select a from t left outer join s on t.k = s.k", "select a from t left join s on t.k = s.k"),
        ("select a from t order by a asc", "select a from t order by a"),
        ("select a from t where b != 1", "select a from t where b <> 1"),
        ("select q.a from (select 1 as a) q", "select z.a from (select 1 as a) as z"),
        (
            "with recent as (select * from o) select * from recent",
            "WITH latest AS (SELECT * FROM o) SELECT * FROM latest",
        ),
        ("select a from t -- the a column", "```sql\nselect a /* all */ from t\n```"),
    ],
)
def test_spacing_case_aliases_and_spelling_do_not_count(reference: str, output: str) -> None:
    score = score_sql(reference, output)
    assert score.agree, (normalise_sql(reference), normalise_sql(output))


def test_aliases_become_canonical_in_order_of_appearance() -> None:
    assert normalise_sql("select p.id from people p join pets q on q.owner = p.id") == (
        "SELECT t1.id FROM people AS t1 JOIN pets AS t2 ON t2.owner = t1.id"
    )


@pytest.mark.parametrize(
    ("reference", "output", "failures"),
    [
        ("select a from t where b = 'X'", "select a from t where b = 'x'", ["different WHERE"]),
        ("select a from t where b = 1", "select a, c from t where b = 2", ["different SELECT list", "different WHERE"]),
        ("select a from t", "select a from t limit 5", ["different LIMIT"]),
        ("select count(*) as total from t", "select count(*) as n from t", ["different SELECT list"]),
        ('select "Name" from t', 'select "name" from t', ["different SELECT list"]),
        ("select a from t where x = 1 and y = 2", "select a from t where y = 2 and x = 1", ["different WHERE"]),
        ("select a from t", "delete from t", ["different query"]),
    ],
)
def test_what_changes_the_query_or_its_text_counts(reference: str, output: str, failures: list[str]) -> None:
    score = score_sql(reference, output)
    assert not score.agree
    assert score.details["failures"] == failures


def test_unparseable_sql_falls_back_to_a_text_compare() -> None:
    broken = "SELECT FROM WHERE ((("

    same = score_sql(broken, " select   from where (((  ")
    different = score_sql("select a from t", broken)

    assert same.agree and not same.details["parsed"]
    assert not different.agree and different.details["failures"] == ["unparseable SQL"]
    assert normalise_sql(broken) is None


def test_summary_counts_parses() -> None:
    scores = [score_sql("select 1", "select 1"), score_sql("select 1", "SELECT FROM (((")]
    assert summarise_sql(scores) == {"exact_match": 0.5, "parse_rate": 0.5, "unparseable_references": 0}
