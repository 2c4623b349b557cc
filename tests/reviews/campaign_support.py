"""Shared set-up of the campaign lifecycle tests (fulfilment, cadence, dashboard, report): an open run of a
campaign over an estate's entitlements, its items routed to the identity's owner, and deciding items the way
the attestation service writes them (the deciding columns, then the fulfilment hook, in one transaction)."""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from reviews.models import CampaignRun, ReviewItem
from reviews.services.fulfilment import fulfilment_enqueue
from tests.factories import CampaignRunFactory, ReviewItemFactory


def open_run(*, campaign=None, days_left: int = 10, started_days_ago: int = 4, **definition) -> CampaignRun:
    """An open run whose stage 1 started `started_days_ago` and is due in `days_left` days."""
    now = timezone.now()
    extra = {} if campaign is None else {"campaign": campaign}
    run = CampaignRunFactory(
        **extra,
        state="open",
        launched_at=now - timedelta(days=started_days_ago),
        extracted_at=now - timedelta(days=started_days_ago),
        opened_at=now - timedelta(days=started_days_ago),
        stage_started_at=now - timedelta(days=started_days_ago),
        due_at=now + timedelta(days=days_left),
        item_digest="0" * 64,
        definition={"independent_reviewer": "privileged", **definition},
    )
    return run


def item_for(run: CampaignRun, entitlement, reviewer, **extra) -> ReviewItem:
    item = ReviewItemFactory(
        run=run,
        entitlement=entitlement,
        identity=entitlement.identity,
        holder_person=entitlement.identity.person,
        granted_by=entitlement.granted_by,
        independent=entitlement.action != "read",
        reviewer=reviewer,
        due_at=run.due_at,
        **extra,
    )
    return item


def decide(item: ReviewItem, decision: str, *, by=None, comment: str = "", **columns) -> ReviewItem:
    """What attestation writes for a reviewer's decision, and the fulfilment hook in the same transaction."""
    reviewer = by or item.reviewer
    with transaction.atomic():
        ReviewItem.objects.filter(pk=item.pk).update(
            state="decided", decision=decision, decided_via="reviewer", decided_by=reviewer,
            decided_at=timezone.now(), comment=comment, time_spent_ms=4000,
            fulfilment_status="pending" if decision in ("revoke", "reduce") else "", **columns,
        )  # fmt: skip
        fulfilment_enqueue(item=item)
    item.refresh_from_db()
    return item
