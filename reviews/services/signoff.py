"""A compliance officer's sign-off closes a campaign run and freezes its report.

`campaign_run_sign_off` (stepped up in the browser — the view's `agentiam.stepup`; never an API token): only a
compliance officer who decided none of the run's items; only an open run; only once every item is decided and
every fulfilment done (pending, retrying, failed or awaiting-an-administrator fulfilments are named, 409). The
report (`reviews.campaign_report`) is built and written on the run in the same UPDATE that closes it, with its
SHA-256; after that the database keeps the run unchanged (the run trigger of migration 0006), so the CSV, the
JSON and the printable page are the frozen evidence."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from agentiam.errors import Conflict, PermissionDenied, invalid
from agentiam.permissions import Role, roles_of
from audit.trail import audit_record
from reviews.campaign_report import digest, report_build
from reviews.models import CampaignRun, ReviewItem
from reviews.models_campaigns import FulfilmentStatus, ItemState, RunState
from reviews.services.stages import awaiting_next_stage

__all__ = [
    "ERR_SIGN_FULFILMENT",
    "ERR_SIGN_NEXT_STAGE",
    "ERR_SIGN_NOTE",
    "ERR_SIGN_PENDING",
    "ERR_SIGN_REVIEWER",
    "ERR_SIGN_ROLE",
    "ERR_SIGN_STATE",
    "MAX_NOTE",
    "campaign_run_sign_off",
]

MAX_NOTE = 2000
ERR_SIGN_ROLE = "Only a compliance officer signs a campaign off."
ERR_SIGN_REVIEWER = "You decided items of this campaign: someone who did not review it signs it off."
ERR_SIGN_STATE = "Only an open campaign is signed off (this one is {state})."
ERR_SIGN_PENDING = (
    "{count} item(s) still wait for a decision: sign off once each is decided or its deadline's outcome applied."
)
ERR_SIGN_FULFILMENT = (
    "{count} revocation(s) are not fulfilled yet (pending, retrying, failed or waiting for an administrator)."
)
ERR_SIGN_NEXT_STAGE = (
    "{count} kept item(s) still wait for a later stage of this campaign (stage {stage} confirms them): sign off once "
    "it has reviewed them."
)
ERR_SIGN_NOTE = f"The note is text of at most {MAX_NOTE} characters."


@transaction.atomic
def campaign_run_sign_off(*, run: CampaignRun, actor, note: str = "", request=None) -> CampaignRun:
    if Role.COMPLIANCE_OFFICER not in roles_of(actor):
        raise PermissionDenied(ERR_SIGN_ROLE)
    if not isinstance(note, str) or len(note) > MAX_NOTE or "\x00" in note:
        raise invalid("note", ERR_SIGN_NOTE)
    run = CampaignRun.objects.select_for_update(of=("self",)).select_related("campaign", "launched_by").get(pk=run.pk)
    if run.state != RunState.OPEN:
        raise Conflict(ERR_SIGN_STATE.format(state=run.get_state_display().lower()))
    items = ReviewItem.objects.filter(run=run)
    if items.filter(decided_by=actor).exists():
        raise PermissionDenied(ERR_SIGN_REVIEWER)
    if pending := items.filter(state=ItemState.PENDING).count():
        raise Conflict(ERR_SIGN_PENDING.format(count=pending))
    if waiting := awaiting_next_stage(run):
        raise Conflict(ERR_SIGN_NEXT_STAGE.format(count=waiting, stage=run.stage + 1))
    open_work = [FulfilmentStatus.PENDING, FulfilmentStatus.FAILED, FulfilmentStatus.AWAITING_ADMIN]
    if unfinished := items.filter(fulfilment_status__in=open_work).count():
        raise Conflict(ERR_SIGN_FULFILMENT.format(count=unfinished))
    now = timezone.now()
    note = note.strip()
    report = report_build(run, signed_off_by=actor, signed_off_at=now, note=note)
    sealed = digest(report)
    CampaignRun.objects.filter(pk=run.pk, state=RunState.OPEN).update(
        state=RunState.CLOSED, signed_off_by=actor, signed_off_at=now, sign_off_note=note, report=report,
        report_digest=sealed,
    )  # fmt: skip
    run.refresh_from_db()
    audit_record(
        actor=actor,
        action="campaign_run.sign_off",
        target=run,
        object_label=f"{run.campaign.name} #{run.number}",
        changes={"report_digest": sealed, "items": report["summary"]["total"], "note": note},
        request=request,
    )
    return run
