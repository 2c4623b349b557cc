"""A campaign run's report — the evidence that evidence bundles include: what was in scope and how it was
extracted (the IPE campcore's launch records: the scope definition, the statement, its counts, the time of
extraction and the digest of the item set), who reviewed what and decided what, when, how long they took,
whether in bulk, what was fulfilled, and who signed the campaign off.

`report_build` assembles it from the database (read-only); the sign-off freezes it on the run
(`CampaignRun.report`, with `report_digest`, the SHA-256 of its canonical JSON), after which the CSV, the JSON
and the printable page are all rendered from that frozen document, never from live rows. `report_csv` writes
one row per item; a cell that a spreadsheet would run as a formula is prefixed with an apostrophe."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from datetime import datetime

from django.core.serializers.json import DjangoJSONEncoder
from django.utils import timezone

from reviews.campaign_figures import figures
from reviews.models import CampaignRun, ReviewerSignOff, ReviewItem

__all__ = ["CSV_COLUMNS", "FORMAT", "canonical", "digest", "report_build", "report_csv", "report_json"]

FORMAT = "agentiam.campaign-report/1"
CSV_COLUMNS = (
    "item", "stage", "identity", "identity_id", "tool", "action", "scope", "mode", "role_holder", "role",
    "reviewer", "routed_via", "reassigned_from", "escalated_at", "recommendation", "reasons", "reason", "flagged",
    "state", "decision", "decided_via", "decided_by", "decided_at", "comment", "time_spent_ms", "bulk",
    "reduce_scope", "reduce_jit_only", "fulfilment_status", "fulfilment_error", "fulfilled_at", "signed_off_at",
)  # fmt: skip
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def canonical(document: dict) -> str:
    return json.dumps(document, cls=DjangoJSONEncoder, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def digest(document: dict) -> str:
    return hashlib.sha256(canonical(document).encode()).hexdigest()


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _name(user) -> str | None:
    return user.get_username() if user is not None else None


def _items(run: CampaignRun) -> list[dict]:
    rows = (
        ReviewItem.objects.filter(run=run)
        .select_related("identity", "entitlement__tool", "role_holder", "reviewer", "decided_by", "reassigned_from")
        .order_by("stage", "seq", "pk")
    )
    out = []
    for item in rows.iterator(chunk_size=2000):
        entitlement = item.entitlement
        out.append(
            {
                "item": str(item.uuid),
                "stage": item.stage,
                "identity": item.identity.name if item.identity_id else None,
                "identity_id": str(item.identity.uuid) if item.identity_id else None,
                "entitlement_id": str(entitlement.uuid) if entitlement else None,
                "tool": entitlement.tool.key if entitlement else None,
                "action": entitlement.action if entitlement else None,
                "scope": entitlement.scope if entitlement else None,
                "mode": entitlement.mode if entitlement else None,
                "role_holder": _name(item.role_holder),
                "role": item.role or None,
                "reviewer": _name(item.reviewer),
                "routed_via": item.routed_via,
                "reassigned_from": _name(item.reassigned_from),
                "escalated_at": _iso(item.escalated_at),
                "recommendation": item.recommendation,
                "reasons": list(item.reasons),
                "reason": item.reason,
                "flagged": item.flagged,
                "evidence": item.evidence,
                "state": item.state,
                "decision": item.decision or None,
                "decided_via": item.decided_via or None,
                "decided_by": _name(item.decided_by),
                "decided_at": _iso(item.decided_at),
                "comment": item.comment,
                "time_spent_ms": item.time_spent_ms,
                "bulk": item.bulk,
                "reduce_scope": item.reduce_scope,
                "reduce_jit_only": item.reduce_jit_only,
                "fulfilment_status": item.fulfilment_status or None,
                "fulfilment_error": item.fulfilment_error,
                "fulfilled_at": _iso(item.fulfilled_at),
                "signed_off_at": _iso(item.signed_off_at),
            }
        )
    return out


def report_build(run: CampaignRun, *, signed_off_by=None, signed_off_at=None, note: str = "") -> dict:
    """The whole report of `run` as plain JSON (a draft unless signed)."""
    now = timezone.now()
    shown = figures(run, now=signed_off_at or now, reviewers=10_000)
    sign_offs = ReviewerSignOff.objects.filter(run=run).select_related("reviewer").order_by("stage", "signed_off_at")
    return {
        "format": FORMAT,
        "final": signed_off_by is not None,
        "generated_at": _iso(signed_off_at or now),
        "campaign": {
            "id": str(run.campaign.uuid),
            "name": run.campaign.name,
            "description": run.campaign.description,
        },
        "run": {
            "id": str(run.uuid),
            "number": run.number,
            "launched_at": _iso(run.launched_at),
            "launched_by": _name(run.launched_by) or "its schedule",
            "opened_at": _iso(run.opened_at),
            "stage": run.stage,
            "due_at": _iso(run.due_at),
        },
        "definition": run.definition,
        "ipe": {
            "scope": run.scope,
            "statement": run.scope_sql,
            "extracted_at": _iso(run.extracted_at),
            "counts": run.counts,
            "items_in_set": run.total,
            "item_digest": run.item_digest,
            "items_reported": shown.totals["total"],
        },
        "summary": shown.as_dict(),
        "reviewers": [
            {
                "reviewer": row.username,
                "name": row.name,
                "items": row.total,
                "pending": row.pending,
                "decided": row.decided,
                "bulk": row.bulk,
                "revoked_or_reduced": row.revoked,
                "median_seconds": None if row.median_ms is None else round(row.median_ms / 1000, 1),
                "signed_off": row.signed_off,
            }
            for row in shown.reviewers
        ],
        "reviewer_sign_offs": [
            {
                "reviewer": s.reviewer.get_username(),
                "stage": s.stage,
                "at": _iso(s.signed_off_at),
                "items": s.items,
                "note": s.note,
            }
            for s in sign_offs
        ],
        "items": _items(run),
        "sign_off": {
            "by": _name(signed_off_by),
            "at": _iso(signed_off_at),
            "note": note,
        },
    }


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        value = json.dumps(value, sort_keys=True, ensure_ascii=False)
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def report_csv(report: dict) -> str:
    """One row per item (the frozen report's), the columns of CSV_COLUMNS."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for item in report["items"]:
        writer.writerow([_cell(item.get(column)) for column in CSV_COLUMNS])
    return out.getvalue()


def report_json(report: dict, sealed: str) -> str:
    """The JSON download: the report and its SHA-256 (of `canonical(report)`: sorted keys, no spaces, UTF-8 —
    recompute it over the "report" member to verify)."""
    return json.dumps({"report": json.loads(canonical(report)), "sha256": sealed}, indent=2, ensure_ascii=False) + "\n"
