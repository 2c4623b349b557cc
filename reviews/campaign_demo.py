"""The demo's review campaign (`reviews.seeds` calls `seed()`; seeded once: when the campaign exists by name,
nothing is added or reset).

A recurring quarterly review of agents' standing access (cron, Europe/Berlin), defined by the compliance officer
and launched through the real launch path (campaign_launch, then the launch task's own steps in this process),
after the decision log's history (identities.runtime.seeds.decision_history), so its recommendations come from
real usage. Then its story, every step through the services:
- reviewers decide some items: certify with a reason, revoke with a reason — revokes are fulfilled (the
  fulfilment outbox rows delivered here, as the worker would);
- the stage's clock is moved back (opened 23 days ago, due 2 days ago, as other demo seeds age what they seed);
- the cadence applies the stage's no-answer outcome, "escalate": what nobody answered goes one level up the
  reviewer chain (the owners' manager, Maya) and is overdue;
- Maya hands the items of Oliver's agents back to him with a note (he was away): so the demo owner signing in
  first finds overdue work in My reviews and on the home page, flagged items with their reasons among it."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from agentiam import outbox
from agentiam.errors import Conflict
from agentiam.models import OutboxMessage
from identities.runtime.seeds import decision_history
from reviews.models_campaigns import Campaign, CampaignRun, ItemState, ReviewItem, RunState
from reviews.services.attest import review_item_decide
from reviews.services.cadence import campaigns_tick
from reviews.services.campaigns import campaign_create, campaign_launch
from reviews.services.fulfilment import KIND as FULFILMENT
from reviews.services.launching import run_launch

__all__ = ["CAMPAIGN", "DECISIONS", "seed"]

log = logging.getLogger(__name__)
CAMPAIGN = "Quarterly agent-access review"
STARTED_DAYS_AGO, DURATION_DAYS = 23, 21
# (reviewer, identity, tool, decision, comment): what the reviewers decided before the deadline.
DECISIONS = (
    ("owner", "triage-bot", "jira.search_issues", "certify", "Reads the support queue every day; still needed."),
    ("owner", "growth-pr-author", "github.read_repository", "revoke",
     "The growth team stopped this agent in October: no use in 40 days."),
    ("owner", "docs-summariser", "jira.search_issues", "revoke",
     "Its acceptable use expired and the knowledge base moved to Confluence."),
    ("nadia", "support-ticket-router", "jira.search_issues", "certify", "Routes support tickets; used this week."),
    ("nadia", "payments-sql-analyst", "warehouse.query", "revoke", "The payments team queries through dbt now."),
)  # fmt: skip
HAND_BACK = "Back to you, Oliver: these are your agents and you know what they need. Please decide them soon."


def _person(username: str):
    return get_user_model().objects.filter(username=username, is_active=True).first()


def _define(compliance) -> Campaign:
    return campaign_create(
        actor=compliance,
        name=CAMPAIGN,
        description="Every quarter, accountable owners confirm the standing access of their agents: keep what the "
        "agent uses within its acceptable use, revoke the rest. Unanswered items go to the owner's manager.",
        identity_kinds=["agent"],
        standing_only=True,
        reviewer_rule="owner",
        independent_reviewer="privileged",
        reminder_days=[7, 2],
        comment_required="revoke",
        recurrence="cron",
        cron="0 7 1 1,4,7,10 *",  # 07:00 on the first day of each quarter
        timezone="Europe/Berlin",
        stages=[{"name": "Owners", "duration_days": DURATION_DAYS, "no_answer_outcome": "escalate"}],
    )


def _decide(run: CampaignRun) -> int:
    made = 0
    for username, identity, tool, decision, comment in DECISIONS:
        reviewer = _person(username)
        item = ReviewItem.objects.filter(
            run=run, reviewer=reviewer, state=ItemState.PENDING, identity__name=identity, entitlement__tool__key=tool
        ).first()
        if item is None:
            continue
        review_item_decide(item=item, actor=reviewer, decision=decision, comment=comment, time_spent_ms=41_000)
        made += 1
    # The revokes' outbox rows, delivered as the worker delivers them (the hand-off on commit then finds them done).
    for message in OutboxMessage.objects.filter(kind=FULFILMENT, status=OutboxMessage.Status.PENDING).order_by("pk"):
        outbox.deliver_due(message_id=message.pk)
    return made


def _age(run: CampaignRun, now) -> None:
    """The stage began STARTED_DAYS_AGO days ago (the launch's snapshot keeps its own time)."""
    started = now - timedelta(days=STARTED_DAYS_AGO)
    due = started + timedelta(days=DURATION_DAYS)
    CampaignRun.objects.filter(pk=run.pk).update(opened_at=started, stage_started_at=started, due_at=due)
    ReviewItem.objects.filter(run=run).update(due_at=due)


def _hand_back(run: CampaignRun, manager, owner) -> int:
    handed = 0
    escalated = ReviewItem.objects.filter(run=run, reviewer=manager, state=ItemState.PENDING,
                                          identity__ownerships__person=owner,
                                          identity__ownerships__valid_to__isnull=True).distinct()  # fmt: skip
    for item in escalated.order_by("pk"):
        try:
            with transaction.atomic():
                review_item_decide(item=item, actor=manager, decision="reassign", reassign_to=owner, note=HAND_BACK)
            handed += 1
        except (ValidationError, PermissionDenied, Conflict):
            continue  # not his to review after all: it stays with Maya
    return handed


def seed() -> list[str]:
    if Campaign.objects.filter(name=CAMPAIGN).exists():
        return []
    compliance, manager, owner = _person("compliance"), _person("manager"), _person("owner")
    if compliance is None or manager is None or owner is None:
        return []
    lines = decision_history.seed()
    try:
        with transaction.atomic():  # a savepoint: a refusal leaves the rest of seed_demo intact
            campaign = _define(compliance)
            run = campaign_launch(campaign=campaign, actor=compliance)
            if run_launch(run_id=run.pk) != RunState.OPEN:
                raise Conflict("the demo campaign's launch did not complete")
            run.refresh_from_db()
            now = timezone.now()
            decided = _decide(run)
            _age(run, now)
            campaigns_tick(now=now)
            handed = _hand_back(run, manager, owner)
    except (ValidationError, PermissionDenied, Conflict) as error:
        log.warning("demo review campaign not seeded: %s", error)
        return [*lines, f"Review campaign: not seeded ({error})"]
    items = ReviewItem.objects.filter(run=run)
    overdue = items.filter(state=ItemState.PENDING, due_at__lt=timezone.now()).count()
    return [
        *lines,
        f"Review campaign {CAMPAIGN!r}: {items.count()} items, {decided} decided, {overdue} overdue "
        f"({handed} handed back to {owner.get_username()})",
    ]
