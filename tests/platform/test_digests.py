"""The bulk audit digest (agentiam.digests): Python and PostgreSQL compute the same count and SHA-256 of a
set of rows, whatever their order, for any text."""

import hashlib

import pytest
from django.db import connection

from agentiam.digests import canonical_row, rows_digest, sql_digest

pytestmark = pytest.mark.django_db

AWKWARD = [
    ("plain", 1, True),
    ('quote " and backslash \\', -7, False),
    ("line\nbreak\ttab\rreturn\x01\x1f\x7f", 0, None),
    ("ünïcödé — 漢字 🙂 \u2028", 2**40, None),
    ("", None, None),
    ("Zebra", 3, True),
    ("apple", 3, True),  # case: code-point order, not a locale's
    ("éclair", 3, True),
]


def sql_of(rows) -> str:
    return " UNION ALL ".join("SELECT %s::text AS a, %s::bigint AS b, %s::boolean AS c" for _ in rows)


def params_of(rows) -> list:
    return [value for row in rows for value in row]


def test_python_and_postgresql_agree_on_awkward_text_numbers_booleans_and_nulls():
    with connection.cursor() as cursor:
        in_sql = sql_digest(cursor, sql_of(AWKWARD), params_of(AWKWARD))
    assert in_sql == rows_digest(AWKWARD) and in_sql.count == len(AWKWARD)


def test_order_does_not_matter_and_any_change_does():
    assert rows_digest(AWKWARD) == rows_digest(list(reversed(AWKWARD)))
    changed = [*AWKWARD[:-1], ("éclair", 3, False)]
    assert rows_digest(changed).sha256 != rows_digest(AWKWARD).sha256
    assert rows_digest([*AWKWARD, AWKWARD[0]]).count == len(AWKWARD) + 1  # a repeated row counts


def test_the_canonical_text_is_what_it_says_and_the_empty_set_has_the_empty_digest():
    assert canonical_row(["a", 1, None, True]) == '["a", 1, null, true]'
    digest = rows_digest([("a", 1), ("b", 2)])
    assert digest.as_json() == {"count": 2, "sha256": hashlib.sha256(b'["a", 1]\n["b", 2]').hexdigest()}
    assert rows_digest([]).as_json() == {"count": 0, "sha256": hashlib.sha256(b"").hexdigest()}
    with connection.cursor() as cursor:
        assert sql_digest(cursor, "SELECT 1 AS x WHERE false") == rows_digest([])
        # the select list's order is the row's order, whatever the column names
        assert sql_digest(cursor, "SELECT 'z' AS b, 'y' AS a") == rows_digest([("z", "y")])


def test_only_scalars_go_into_a_digest():
    with pytest.raises(TypeError, match="float"):
        rows_digest([("a", 1.5)])
