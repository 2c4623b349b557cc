"""What an approver reads beside each request, for a whole page of requests in a fixed number of queries: the
identity and its accountable owner, risk tier and why, the acceptable use in force, what it holds now
(standing and JIT), exactly what approving would grant and until when, its recent decisions, and its past
requests and how they ended."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta

from django.db.models import Case, F, IntegerField, Prefetch, Q, QuerySet, Value, When, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from identities.models import AcceptableUse, Entitlement, OwnershipRole, Tool, current_ownerships
from identities.runtime.models import PolicyDecision
from reviews.models import Approval, ElevationRequest, RequestState, Urgency

RECENT_DECISIONS = 5
DECISIONS_SINCE = timedelta(days=7)  # the decision log is partitioned by day: read only the last week's
PAST_REQUESTS = 5
HELD_SHOWN = 30

URGENCY_RANK = {Urgency.HIGH: 0, Urgency.NORMAL: 1, Urgency.LOW: 2}


def with_people(queryset: QuerySet[ElevationRequest]) -> QuerySet[ElevationRequest]:
    """A request row with who asked, who decided and the identity's accountable owner: what every list shows."""
    accountable = current_ownerships().filter(role=OwnershipRole.ACCOUNTABLE).select_related("person")
    related = ("identity", "task", "requested_by", "requested_by_identity", "rule")
    return queryset.select_related(*related).prefetch_related(
        Prefetch("approvals", queryset=Approval.objects.select_related("approver", "on_behalf_of").order_by("pk")),
        Prefetch("identity__ownerships", queryset=accountable, to_attr="accountable_now"),
    )


def _ranked(queryset: QuerySet, order: list) -> QuerySet:
    return queryset.annotate(rank=Window(RowNumber(), partition_by=[F("identity_id")], order_by=order))


def briefs(requests: list[ElevationRequest]) -> list[ElevationRequest]:
    """Attach to each request (rows of `with_people`) what an approver decides on. Seven queries for the page."""
    if not requests:
        return requests
    now = timezone.now()
    identity_ids = {r.identity_id for r in requests}
    aups = {}
    current = AcceptableUse.objects.filter(
        Q(valid_until__isnull=True) | Q(valid_until__gt=now), identity_id__in=identity_ids, valid_from__lte=now
    ).order_by("identity_id", "-version")
    for aup in current:
        aups.setdefault(aup.identity_id, aup)
    held = defaultdict(list)
    live = (
        Entitlement.objects.filter(identity_id__in=identity_ids, revoked_at__isnull=True)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .filter(Q(grant__isnull=True) | Q(grant__ended_at__isnull=True, grant__ends_at__gt=now))
        .select_related("tool", "grant__task")
    )
    for entitlement in _ranked(live, [F("mode").desc(), F("tool__key").asc(), F("pk").asc()]).filter(
        rank__lte=HELD_SHOWN
    ):
        held[entitlement.identity_id].append(entitlement)
    decisions = defaultdict(list)
    recent = PolicyDecision.objects.filter(identity_id__in=identity_ids, decided_at__gte=now - DECISIONS_SINCE)
    for decision in _ranked(recent, [F("decided_at").desc()]).filter(rank__lte=RECENT_DECISIONS):
        decisions[decision.identity_id].append(decision)
    past = defaultdict(list)
    closed = ElevationRequest.objects.filter(identity_id__in=identity_ids).exclude(state=RequestState.PENDING)
    closed = _ranked(closed, [F("created_at").desc(), F("pk").desc()]).filter(rank__lte=PAST_REQUESTS)
    for row in closed.prefetch_related(
        Prefetch("approvals", queryset=Approval.objects.select_related("approver").order_by("pk"))
    ):
        past[row.identity_id].append(row)
    keys = {name.split(":")[0] for r in requests for name in r.scopes}
    tools = {tool.key: tool for tool in Tool.objects.filter(key__in=keys).select_related("system")}
    for r in requests:
        r.brief_aup = aups.get(r.identity_id)
        r.brief_held = held[r.identity_id]
        r.brief_standing = [e for e in r.brief_held if e.mode == "standing"]
        r.brief_jit = [e for e in r.brief_held if e.mode == "jit"]
        r.brief_decisions = decisions[r.identity_id]
        r.brief_past = [p for p in past[r.identity_id] if p.pk != r.pk]
        r.brief_scopes = [(name, tools.get(name.split(":")[0]), name.split(":")[1]) for name in r.scopes]
        r.brief_until = now + timedelta(seconds=r.duration_seconds)
    return requests


def decided_by(elevation_request: ElevationRequest) -> list[Approval]:
    """Its approvals in order (prefetched by with_people)."""
    return list(elevation_request.approvals.all())


def urgent_first(queryset: QuerySet[ElevationRequest]) -> QuerySet[ElevationRequest]:
    """Most urgent first: high, normal, low, then the one expiring soonest."""
    rank = Case(
        *(When(urgency=urgency, then=Value(value)) for urgency, value in URGENCY_RANK.items()),
        default=Value(3),
        output_field=IntegerField(),
    )
    return queryset.annotate(urgency_rank=rank).order_by("urgency_rank", "expires_at", "pk")
