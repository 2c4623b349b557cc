"""`registry_export`: the registry in the import format, one CSV per entity type, written by PostgreSQL
itself (COPY (SELECT …) TO STDOUT) straight into a ZIP — what the actor may see, in one snapshot.

Importing an export changes nothing: every row names its object by external id, or by public id when
it has none; only active standing entitlements are written (JIT ones come from grants); a credential is
written only when the actor sees all its holders and everything it carries, since an import sets those
lists exactly.
"""

# ruff: noqa: S608 - SQL is assembled from this package's own table and column names, never from input;
# values always travel as parameters.

from __future__ import annotations

import csv
import io
import tempfile
import zipfile
from typing import IO

from django.db import connection, transaction

from agentiam.permissions import roles_of
from identities.imports import formats
from identities.models import Identity
from identities.rules import sees_every_identity

REF = "COALESCE({t}.external_id::text, {t}.uuid::text)"
BOOL = "CASE WHEN {c} THEN 'true' ELSE 'false' END"
LIST = "array_to_string({c}, ';')"

PERSON_REF = "COALESCE(NULLIF(p.employee_id, ''), p.uuid::text)"

QUERIES = {
    "persons": f"""
        SELECT DISTINCT {PERSON_REF} AS external_id, u.email
        FROM auth_user u JOIN identities_profile p ON p.user_id = u.id
        WHERE u.email <> '' AND u.id IN (
            SELECT o.person_id FROM identities_ownership o JOIN exp_ids x ON x.id = o.identity_id
            WHERE o.role = 'accountable' AND o.valid_to IS NULL
            UNION SELECT i.person_id FROM identities_identity i JOIN exp_ids x ON x.id = i.id)
        ORDER BY 1""",
    "systems": f"""
        SELECT {REF.format(t="s")}, s.name, s.kind, s.description, s.vendor
        FROM identities_system s ORDER BY s.id""",
    "tools": f"""
        SELECT {REF.format(t="t")}, {REF.format(t="s")}, t.key, t.name, t.description, {LIST.format(c="t.actions")},
               t.sensitivity, t.data_class, {BOOL.format(c="t.production")}, {BOOL.format(c="t.production_secrets")},
               {BOOL.format(c="t.third_party")}
        FROM identities_tool t JOIN identities_system s ON s.id = t.system_id ORDER BY t.id""",
    "identities": f"""
        SELECT {REF.format(t="i")}, i.kind, i.name, i.description, i.environment, i.hosting, i.cloud_account,
               i.region, i.exposure, {LIST.format(c="i.capabilities")}, i.model_provider, i.model_name,
               {REF.format(t="parent")}, {LIST.format(c="i.allowed_image_digests")}, i.source_repository,
               i.source_commit, i.attestation_signer,
               CASE WHEN hu.email <> '' THEN {PERSON_REF.replace("p.", "hp.")} END,
               CASE WHEN ou.email <> '' THEN {PERSON_REF} END
        FROM identities_identity i JOIN exp_ids x ON x.id = i.id
        LEFT JOIN identities_identity parent ON parent.id = i.parent_id
        LEFT JOIN auth_user hu ON hu.id = i.person_id
        LEFT JOIN identities_profile hp ON hp.user_id = hu.id
        LEFT JOIN identities_ownership o ON o.identity_id = i.id AND o.role = 'accountable' AND o.valid_to IS NULL
        LEFT JOIN auth_user ou ON ou.id = o.person_id
        LEFT JOIN identities_profile p ON p.user_id = ou.id
        ORDER BY i.id""",
    "identifiers": f"""
        SELECT {REF.format(t="f")}, {REF.format(t="i")}, f.kind, f.value
        FROM identities_identifier f JOIN exp_ids x ON x.id = f.identity_id
        JOIN identities_identity i ON i.id = f.identity_id ORDER BY f.id""",
    "entitlements": f"""
        SELECT {REF.format(t="e")}, {REF.format(t="i")}, {REF.format(t="t")}, e.action, e.scope::text,
               e.expires_at, e.reason, COALESCE(rx.reason, ''), rx.valid_until
        FROM identities_entitlement e JOIN exp_ids x ON x.id = e.identity_id
        JOIN identities_identity i ON i.id = e.identity_id
        JOIN identities_tool t ON t.id = e.tool_id
        LEFT JOIN LATERAL (
            SELECT r.reason, r.valid_until FROM identities_riskexception r
            WHERE r.entitlement_id = e.id AND r.revoked_at IS NULL AND r.valid_until > now()
            ORDER BY r.valid_until DESC LIMIT 1) rx ON true
        WHERE e.mode = 'standing' AND e.revoked_at IS NULL ORDER BY e.id""",
    "credentials": f"""
        SELECT {REF.format(t="c")}, c.name, c.kind, c.fingerprint, {BOOL.format(c="c.is_static")}, c.ttl_seconds,
               c.storage_kind, c.storage_location, c.issued_at, c.last_rotated_at, c.expires_at,
               (SELECT string_agg({REF.format(t="i")}, ';' ORDER BY i.id) FROM identities_credential_holders h
                JOIN identities_identity i ON i.id = h.identity_id WHERE h.credential_id = c.id),
               (SELECT string_agg({REF.format(t="e")}, ';' ORDER BY e.id) FROM identities_credential_entitlements ce
                JOIN identities_entitlement e ON e.id = ce.entitlement_id
                WHERE ce.credential_id = c.id AND e.revoked_at IS NULL)
        FROM identities_credential c
        WHERE EXISTS (SELECT 1 FROM identities_credential_holders h WHERE h.credential_id = c.id)
          AND NOT EXISTS (SELECT 1 FROM identities_credential_holders h WHERE h.credential_id = c.id
                          AND h.identity_id NOT IN (SELECT id FROM exp_ids))
          AND NOT EXISTS (SELECT 1 FROM identities_credential_entitlements ce
                          JOIN identities_entitlement e ON e.id = ce.entitlement_id
                          WHERE ce.credential_id = c.id AND e.revoked_at IS NULL
                            AND e.identity_id NOT IN (SELECT id FROM exp_ids))
        ORDER BY c.id""",
}


def _visible_ids(cursor, actor) -> None:
    cursor.execute("DROP TABLE IF EXISTS pg_temp.exp_ids")
    cursor.execute("CREATE TEMPORARY TABLE exp_ids (id bigint PRIMARY KEY)")
    if actor is None or sees_every_identity(roles_of(actor)):
        cursor.execute("INSERT INTO exp_ids SELECT id FROM identities_identity")
    else:
        sql, params = Identity.objects.restrict(actor, "view").values_list("id").query.sql_with_params()
        cursor.execute(f"INSERT INTO exp_ids {sql}", params)
    cursor.execute("ANALYZE exp_ids")


# A cell a spreadsheet would run as a formula (or whose leading tab / carriage return hides one) starts with one of
# these: the spreadsheet-safe export writes it with a leading apostrophe (OWASP's CSV injection advice).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_cell(value: str) -> str:
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def _copy_member(cursor, sql: str, member: IO[bytes], *, spreadsheet_safe: bool) -> None:
    if not spreadsheet_safe:
        with cursor.cursor.copy(sql) as copy:
            for data in copy:
                member.write(data)
        return
    with tempfile.TemporaryFile() as raw:  # PostgreSQL's CSV, re-read row by row (cells may hold newlines)
        with cursor.cursor.copy(sql) as copy:
            for data in copy:
                raw.write(data)
        raw.seek(0)
        reader = csv.reader(io.TextIOWrapper(raw, encoding="utf-8", newline=""))
        out = io.TextIOWrapper(member, encoding="utf-8", newline="", write_through=True)
        writer = csv.writer(out, lineterminator="\r\n")  # so a cell holding \r or \n is quoted
        for row in reader:
            writer.writerow([spreadsheet_cell(cell) for cell in row])
        out.detach()


def registry_export(target: IO[bytes], *, actor=None, spreadsheet_safe: bool = False) -> dict[str, int]:
    """Write the ZIP to `target` (a binary file object); returns the rows written per file.

    The default is the round-trip format (importing it changes nothing). `spreadsheet_safe` prefixes every cell
    that starts like a formula with an apostrophe, for opening in a spreadsheet (the browser download)."""
    counts: dict[str, int] = {}
    outermost = not connection.in_atomic_block
    with transaction.atomic(), connection.cursor() as cursor:
        if outermost:  # one snapshot for every file (only possible as the transaction's first statement)
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        _visible_ids(cursor, actor)
        with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for entity in formats.ENTITIES:
                with archive.open(f"{entity.name}.csv", "w") as member:
                    member.write(",".join(entity.column_names).encode() + b"\n")
                    sql = f"COPY ({QUERIES[entity.name]}) TO STDOUT (FORMAT csv)"
                    _copy_member(cursor, sql, member, spreadsheet_safe=spreadsheet_safe)
                    counts[entity.name] = cursor.cursor.rowcount
        cursor.execute("DROP TABLE exp_ids")
    return counts
