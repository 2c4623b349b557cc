"""`registry_import`: the whole import in one transaction — load, check the shape, plan and check the
rules, write, recompute risk, and one audit entry — or nothing at all.

A dry run does everything but the audit entry and then rolls back, so its counts are exactly what a real
run would do. Any error (or a dry run) rolls the transaction back; the report names file, line and field.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from django.core.exceptions import PermissionDenied
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from agentiam.digests import Digest
from agentiam.permissions import Role, roles_of
from audit.trail import audit_record
from identities import rules
from identities.imports import (
    apply,
    hidden,
    plan_access,
    plan_catalog,
    plan_credentials,
    plan_registry,
    refs,
    shape,
    tiers,
)
from identities.imports.context import Importer, Run
from identities.imports.loader import load_archive
from identities.imports.refresh import refresh_identities
from identities.imports.report import Report

log = logging.getLogger(__name__)

ERR_IMPORT_ROLE = "Only administrators and identity owners may import into the registry."
ERR_REFUSED = "The registry refused the import ({detail}); nothing was written."

Progress = Callable[[str, dict], None]


@dataclass
class ImportResult:
    ok: bool
    dry_run: bool
    sha256: str
    size: int
    counts: dict = field(default_factory=dict)
    report: Report = field(default_factory=Report)
    written: Digest | None = None  # the rows written (count and SHA-256), for the audit entry

    def as_json(self) -> dict:
        return {
            "ok": self.ok,
            "dry_run": self.dry_run,
            "sha256": self.sha256,
            "size": self.size,
            "counts": self.counts,
            "report": self.report.as_json(),
        }


class _Rollback(Exception):
    pass


def file_digest(path: str | Path) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def importer_for(actor) -> Importer:
    if actor is None:
        return Importer(None)
    roles = roles_of(actor)
    if not roles & rules.CHANGERS:
        raise PermissionDenied(ERR_IMPORT_ROLE)
    return Importer(actor, admin=Role.ADMINISTRATOR in roles, owner_role=Role.IDENTITY_OWNER in roles)


def registry_import(
    *,
    path: str | Path,
    actor,
    dry_run: bool = False,
    filename: str = "",
    job=None,
    request=None,
    progress: Progress | None = None,
) -> ImportResult:
    """Import a registry ZIP as `actor` (None: the system, from the command line)."""
    importer = importer_for(actor)
    sha256, size = file_digest(path)
    result = ImportResult(ok=False, dry_run=dry_run, sha256=sha256, size=size)
    note = progress or (lambda phase, info: None)
    try:
        with transaction.atomic():
            _run(Path(path), importer, result, note)
            if not result.ok or dry_run:
                raise _Rollback
            audit_record(
                actor=actor,
                action="registry.import",
                object_type="identities.importjob" if job else "",
                object_id=str(job.uuid) if job else "",
                object_label=filename or Path(path).name,
                request=request,
                changes={
                    "sha256": sha256,
                    "size": size,
                    "file": filename or Path(path).name,
                    "counts": result.counts,
                    "rows": result.written.as_json(),
                },
            )
    except _Rollback:
        pass
    except DatabaseError as error:
        log.exception("registry import refused by the database")
        result.ok = False
        detail = str(getattr(error, "__cause__", None) or error).strip().splitlines()[0]
        result.report.add(filename or Path(path).name, None, None, ERR_REFUSED.format(detail=detail))
    note("done", {"ok": result.ok})
    return result


def _run(path: Path, importer: Importer, result: ImportResult, note: Progress) -> None:
    report = result.report
    note("loading", {})
    loaded = load_archive(path, report, note)
    if not report.ok:
        return
    run = Run(importer=importer, loaded=loaded, now=timezone.now())
    with connection.cursor() as cursor:
        note("checking", {"step": "values"})
        shape.prepare(cursor)
        shape.normalise(cursor, loaded)
        for name in loaded:
            cursor.execute(f"ANALYZE imp_{name}")
        shape.check_columns(cursor, loaded)
        shape.check_identifiers(cursor, loaded)
        shape.check_scopes(cursor, loaded)
        shape.check_fingerprints(cursor, loaded)
        shape.resolve_persons(cursor, loaded)
        refs.build_maps(cursor)
        hidden.hide_invisible(cursor, run)
        refs.check_references(cursor, run)
        shape.collect(cursor, report)
        if not report.ok:
            return
        note("checking", {"step": "rules"})
        plan_registry.actor_tables(cursor, run)
        plan_catalog.plan_systems(cursor, run)
        plan_catalog.plan_tools(cursor, run)
        plan_registry.plan_identities(cursor, run)
        plan_registry.plan_identifiers(cursor, run)
        plan_access.plan_entitlements(cursor, run)
        plan_credentials.plan_credentials(cursor, run)
        shape.collect(cursor, report)
        if not report.ok:
            return
        note("writing", {})
        was = tiers.before(cursor, run)
        touched = apply.apply_all(cursor, run)
        note("refreshing", {"identities": len(touched)})
        refresh_identities(touched, now=run.now)
        tiers.refuse_lowered(cursor, run, was, report)
        if not report.ok:
            return
        result.counts = {**run.counts, "risk_recomputed": len(touched)}
        result.written = apply.written_rows(cursor, run)
        result.ok = True
        _drop_work_tables(cursor)


def _drop_work_tables(cursor) -> None:
    cursor.execute(
        """SELECT string_agg(quote_ident(c.relname), ', ') FROM pg_class c
           WHERE c.relnamespace = pg_my_temp_schema() AND c.relkind = 'r'
             AND c.relname ~ '^(imp|map|res|perm|actor)_'"""
    )
    tables = cursor.fetchone()[0]
    if tables:
        cursor.execute(f"DROP TABLE {tables}")
