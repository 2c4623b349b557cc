"""One audit entry for a set-wise write: how many rows and the SHA-256 of their canonical text.

An operation that writes thousands of rows in one statement (an import, a bulk revocation) does not write
thousands of audit entries: its one entry carries `digest.as_json()` — `{"count": n, "sha256": hex}` — over
the rows it wrote, so anyone holding the same rows (a later query, the file, a backup) can recompute it.

Canonical text of a set of rows: each row is a list of scalars (text, integers, booleans, None) written as
JSON the way PostgreSQL writes `jsonb` (`[1, "a", null]`: ", " between items, non-ASCII as itself,
control characters as lower-case `\\u00XX`); the lines sorted by code point (PostgreSQL's "C" collation
of UTF-8) and joined with "\\n". Order of the rows never matters. Both halves compute the same value:

- `rows_digest(rows)` in Python, for rows already in memory;
- `sql_digest(cursor, "SELECT a, b FROM …", params)` in PostgreSQL, over the rows a query returns, without
  bringing them to Python (the select list must give text, integers, booleans or NULL: cast the rest).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

Scalar = str | int | bool | None


@dataclass(frozen=True)
class Digest:
    count: int
    sha256: str

    def as_json(self) -> dict:
        return {"count": self.count, "sha256": self.sha256}


def canonical_row(row: Sequence[Scalar]) -> str:
    for value in row:
        if value is not None and not isinstance(value, str | int | bool):
            raise TypeError(f"a digest row holds text, integers, booleans or None, not {type(value).__name__}")
    return json.dumps(list(row), ensure_ascii=False, separators=(", ", ": "))


def rows_digest(rows: Iterable[Sequence[Scalar]]) -> Digest:
    lines = sorted(canonical_row(row) for row in rows)
    return Digest(len(lines), hashlib.sha256("\n".join(lines).encode()).hexdigest())


def sql_digest(cursor, query: str, params: Sequence | dict | None = None) -> Digest:
    """The digest of the rows `query` returns, computed by PostgreSQL. `query` is trusted SQL of the caller's
    (values travel in `params`); the columns of its select list, in order, are the items of a row (json, not
    jsonb, keeps that order; each value is then written as jsonb for the canonical spacing)."""
    cursor.execute(
        f"""SELECT count(*), encode(sha256(convert_to(COALESCE(
                   string_agg(line, E'\\n' ORDER BY line COLLATE "C"), ''), 'UTF8')), 'hex')
            FROM (SELECT (SELECT COALESCE(jsonb_agg(v.value::jsonb ORDER BY v.ordinality), '[]')::text
                          FROM json_each(to_json(q)) WITH ORDINALITY AS v(key, value, ordinality)) AS line
                  FROM ({query}) AS q) AS lines""",  # noqa: S608 - the caller's own SQL, values are parameters
        params,
    )
    count, sha256 = cursor.fetchone()
    return Digest(count, sha256)
