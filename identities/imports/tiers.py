"""Right.LOWER_TIER in the import, as in identity_update: a file that changes an identity's declared inputs
so that its derived risk tier goes down is refused unless the importer may lower it (an administrator who
does not own it). Raising it stays free. The tiers are compared after the writes and the refresh, inside the
import's transaction, which a refusal rolls back."""

# ruff: noqa: S608 - SQL is assembled from this module's own column names, never from input.

from __future__ import annotations

from identities import rules
from identities.imports.context import Run
from identities.imports.report import Report
from identities.models import Identity
from identities.models.registry import standing

INPUTS = ("environment", "exposure", "capabilities", "parent_id", "delegation_depth")  # assess_risk's declared ones


def before(cursor, run: Run) -> dict[int, tuple]:
    """Every identity the file changes: its line, derived tier and declared inputs before the import."""
    if run.importer.system or not run.has("identities"):
        return {}
    cursor.execute(
        f"""SELECT d.id, r._line, d.derived_tier::text, {", ".join(f"d.{c}" for c in INPUTS)}
            FROM res_identities r JOIN identities_identity d ON d.id = r.id WHERE r.changed"""
    )
    return {row[0]: row[1:] for row in cursor.fetchall()}


def refuse_lowered(cursor, run: Run, was: dict[int, tuple], report: Report) -> None:
    if not was:
        return
    cursor.execute(
        f"""SELECT id, derived_tier::text, {", ".join(INPUTS)} FROM identities_identity WHERE id = ANY(%s)""",
        [list(was)],
    )
    for identity_id, tier, *inputs in cursor.fetchall():
        line, old_tier, *old_inputs = was[identity_id]
        if not rules.lowers(old_tier, tier):
            continue
        answer = rules.may(rules.Right.LOWER_TIER, standing(Identity(pk=identity_id), run.importer.user))
        if not answer:
            changed = next((c for c, a, b in zip(INPUTS, old_inputs, inputs, strict=True) if a != b), "external_id")
            field = {"parent_id": "parent", "delegation_depth": "parent"}.get(changed, changed)
            report.add(run.file("identities"), line, field, answer.reason)
