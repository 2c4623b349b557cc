"""Reading review items: who sees which (`items_visible_to`), what waits for a reviewer (`items_to_review`),
their progress, and what a reviewer reads beside each identity on "My reviews" — for a whole page of
identities in a fixed number of queries, however many items the reviewer has (bench/bench_reviews.py)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Count, F, Min, Q, QuerySet, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from agentiam.permissions import SEE_EVERYTHING, roles_of
from identities.models import AcceptableUse, Entitlement, Identity, OwnershipRole, current_ownerships
from identities.runtime.models import PolicyDecision
from reviews.models_campaigns import FulfilmentStatus, ItemDecision, ItemState, ReviewItem, RunState

__all__ = [
    "Progress",
    "identity_briefs",
    "is_reviewer",
    "items_to_review",
    "items_visible_to",
    "mine_in",
    "pending_count",
    "progress",
    "reduces_waiting_for",
    "remember_pending",
    "with_details",
    "with_row",
]

RECENT_DECISIONS = 5
DECISIONS_SINCE = timedelta(days=7)  # the decision log is partitioned by day: read only the last week's
ACCESS_SHOWN = 12


def items_visible_to(user) -> QuerySet[ReviewItem]:
    """The roles that see everything see every item; anyone else the items they review, handed on or
    decided, and those of identities they may see (their own, their reports')."""
    if user is None or not user.is_authenticated or not user.is_active:
        return ReviewItem.objects.none()
    if roles_of(user) & SEE_EVERYTHING:
        return ReviewItem.objects.all()
    if not roles_of(user):
        return ReviewItem.objects.filter(reviewer=user)
    visible = Identity.objects.restrict(user, "view").values("pk")
    return ReviewItem.objects.filter(
        Q(reviewer=user) | Q(reassigned_from=user) | Q(decided_by=user) | Q(identity__in=visible)
    )


def items_to_review(user) -> QuerySet[ReviewItem]:
    """The person's items in the current (or a later) stage of open campaigns, and earlier ones still pending, not
    signed off (decided ones included: a certify may still change)."""
    if user is None or not user.is_authenticated or not user.is_active:
        return ReviewItem.objects.none()
    return ReviewItem.objects.filter(
        Q(stage__gte=F("run__stage")) | Q(state=ItemState.PENDING),
        reviewer=user,
        run__state=RunState.OPEN,
        signed_off_at__isnull=True,
    )


def mine_in(user, runs) -> QuerySet[ReviewItem]:
    """The person's items in these runs' current stages (runs already read: no join on the run)."""
    where = Q(pk__in=[])
    for run in runs:
        # A later stage's items may reach a reviewer before the run gets there; an earlier stage's item still
        # pending (escalated at its deadline) waits for an answer too.
        where |= Q(run_id=run.pk) & (Q(stage__gte=run.stage) | Q(state=ItemState.PENDING))
    return (
        ReviewItem.objects.filter(where, reviewer=user, signed_off_at__isnull=True)
        if runs
        else ReviewItem.objects.none()
    )


# Still to decide: pending, and the access not ended elsewhere meanwhile (that counts as done).
STILL_PENDING = Q(state=ItemState.PENDING) & Q(entitlement__revoked_at__isnull=True)


def is_reviewer(user) -> bool:
    """Does an open campaign name this person as the reviewer of an item (any stage, signed off or not)? Whatever
    their role: a fallback group's member, a later stage's reviewer, a reassignee, an administrator reviewing
    AgentIAM's own role holders. Kept on the user for the request."""
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    cached = getattr(user, "_reviews_is_reviewer", None)
    if cached is None:
        cached = user._reviews_is_reviewer = ReviewItem.objects.filter(reviewer=user, run__state=RunState.OPEN).exists()
    return cached


def remember_pending(user, count: int) -> None:
    """The page counted it already: the navigation's count reads this instead of asking again."""
    user._reviews_items_pending = count


def pending_count(user) -> int:
    """Items still waiting for this person's decision (the navigation's and the home page's count)."""
    cached = getattr(user, "_reviews_items_pending", None)
    if cached is None:
        cached = _pending(items_to_review(user)).count()
        if user is not None and user.is_authenticated:
            user._reviews_items_pending = cached
    return cached


def forget(user) -> None:
    if hasattr(user, "_reviews_items_pending"):
        del user._reviews_items_pending


def _pending(queryset: QuerySet[ReviewItem]) -> QuerySet[ReviewItem]:
    """Pending and not revoked elsewhere (access ended outside the campaign counts as done)."""
    return queryset.filter(state=ItemState.PENDING).exclude(entitlement__revoked_at__isnull=False)


@dataclass(frozen=True)
class Progress:
    total: int
    done: int
    oldest_due: object = None

    @property
    def pending(self) -> int:
        return self.total - self.done

    @property
    def percent(self) -> int:
        return int(100 * self.done / self.total) if self.total else 100


def progress(queryset: QuerySet[ReviewItem]) -> Progress:
    """How far a set of items is: one query."""
    found = queryset.aggregate(
        total=Count("pk"),
        pending=Count("pk", filter=STILL_PENDING),
        oldest=Min("due_at", filter=Q(state=ItemState.PENDING)),
    )
    return Progress(found["total"], found["total"] - found["pending"], found["oldest"])


def with_row(queryset: QuerySet[ReviewItem]) -> QuerySet[ReviewItem]:
    """What a row of "My reviews" shows: the identity, the entitlement with its tool and granter, who handed it on."""
    return queryset.select_related(
        "identity", "entitlement__tool", "entitlement__granted_by", "reassigned_from", "role_holder"
    )


def with_details(queryset: QuerySet[ReviewItem]) -> QuerySet[ReviewItem]:
    """An item row with what every list shows: its campaign, identity, entitlement (tool, granter)."""
    return queryset.select_related(
        "run__campaign",
        "identity",
        "entitlement__tool__system",
        "entitlement__granted_by",
        "entitlement__grant",
        "reviewer",
        "decided_by",
        "reassigned_from",
        "role_holder",
    )


def _ranked(queryset: QuerySet, order: list) -> QuerySet:
    return queryset.annotate(rank=Window(RowNumber(), partition_by=[F("identity_id")], order_by=order))


@dataclass
class Brief:
    """What a reviewer reads about one identity beside its items."""

    identity: Identity | None
    items: list
    accountable: object = None
    aup: AcceptableUse | None = None
    access: list = None
    access_total: int = 0
    access_standing: int = 0
    access_jit: int = 0
    decisions: list = None


def identity_briefs(items: list[ReviewItem]) -> list[Brief]:
    """Group a page of items (rows of with_details) by identity and attach the evidence: accountable owner,
    acceptable use in force, the effective access the identity holds in total, its recent decisions. Five
    queries whatever the number of identities or items."""
    groups: dict[int | None, list[ReviewItem]] = defaultdict(list)
    for item in items:
        groups[item.identity_id].append(item)
    identity_ids = [key for key in groups if key is not None]
    now = timezone.now()
    aups, owners, access, totals, decisions = {}, {}, defaultdict(list), {}, defaultdict(list)
    if identity_ids:
        current = AcceptableUse.objects.filter(
            Q(valid_until__isnull=True) | Q(valid_until__gt=now), identity_id__in=identity_ids, valid_from__lte=now
        ).order_by("identity_id", "-version")
        for aup in current:
            aups.setdefault(aup.identity_id, aup)
        accountable = current_ownerships().filter(identity_id__in=identity_ids, role=OwnershipRole.ACCOUNTABLE)
        owners = {row.identity_id: row.person for row in accountable.select_related("person")}
        live = (
            Entitlement.objects.filter(identity_id__in=identity_ids, revoked_at__isnull=True)
            .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
            .filter(Q(grant__isnull=True) | Q(grant__ended_at__isnull=True, grant__ends_at__gt=now))
        )
        for row in live.values("identity_id").annotate(
            total=Count("pk"), standing=Count("pk", filter=Q(mode="standing")), jit=Count("pk", filter=Q(mode="jit"))
        ):
            totals[row["identity_id"]] = row
        shown = _ranked(live.select_related("tool"), [F("mode").desc(), F("tool__key").asc(), F("pk").asc()])
        for entitlement in shown.filter(rank__lte=ACCESS_SHOWN):
            access[entitlement.identity_id].append(entitlement)
        recent = PolicyDecision.objects.filter(identity_id__in=identity_ids, decided_at__gte=now - DECISIONS_SINCE)
        for decision in _ranked(recent, [F("decided_at").desc()]).filter(rank__lte=RECENT_DECISIONS):
            decisions[decision.identity_id].append(decision)
    briefs = []
    for key, rows in groups.items():
        total = totals.get(key, {})
        briefs.append(
            Brief(
                identity=rows[0].identity,
                items=rows,
                accountable=owners.get(key),
                aup=aups.get(key),
                access=access.get(key, []),
                access_total=total.get("total", 0),
                access_standing=total.get("standing", 0),
                access_jit=total.get("jit", 0),
                decisions=decisions.get(key, []),
            )
        )
    return briefs


def reduces_waiting_for(person) -> QuerySet[ReviewItem]:
    """Privileged reduces waiting for an administrator, on identities this person does not own now."""
    owned = current_ownerships().filter(person=person).values("identity_id")
    return ReviewItem.objects.filter(
        fulfilment_status=FulfilmentStatus.AWAITING_ADMIN, decision=ItemDecision.REDUCE
    ).exclude(identity_id__in=owned)
