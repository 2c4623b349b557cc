"""Insight into elevation, overall and per identity: standing against just-in-time privilege, how long an
approval takes (median and 90th percentile), how requests end (approved, denied, withdrawn, expired
unanswered), break-glass use, and the per-call re-authorisation path: request → approval → the allowed
call (median and 95th percentile) and the calls that lapsed unanswered.

`figures(requests, entitlements, identities)` reads any queryset of each — `requests_visible_to(user)` and
the identities the person may see, for the dashboard; one identity's, for its page — in a fixed number of
queries (two; three with break-glass, four with the per-call path, whose rows are those of `identities`),
whatever the number of rows: PostgreSQL aggregates, with percentile_cont for the times. Only what the
person may see is counted. bench/bench_insight.py measures them at 100k requests.

Registered from ReviewsConfig.ready(): a dashboard panel (agentiam.dashboard) and a panel in the identity
page's "identity_detail" slot (agentiam.slots), so neither page imports reviews.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Aggregate, Count, F, FloatField, Q, QuerySet
from django.utils import timezone

from agentiam import slots
from agentiam.dashboard import Panel, register_panel
from agentiam.permissions import SEE_EVERYTHING, Role, roles_of
from identities.models import Entitlement, EntitlementMode, Identity
from identities.rules import sees_every_identity
from identities.runtime.models import CallAuthorisation, CallState
from reviews.models import ElevationRequest, RequestState
from reviews.selectors import requests_visible_to

__all__ = ["DAYS", "CallPath", "Insight", "figures", "register_break_glass"]

DAYS = 30  # the window the rates and times look back over
INSIGHT_ROLES = SEE_EVERYTHING | {Role.MANAGER, Role.IDENTITY_OWNER}

# Break-glass use: counted by whoever records it (reviews' break-glass service registers a function taking the
# window's start and the identities' queryset, answering how many). None until it does.
_BREAK_GLASS: list[Callable[[object, QuerySet], int]] = []


def register_break_glass(count: Callable[[object, QuerySet], int]) -> None:
    _BREAK_GLASS[:] = [count]


class PercentileSeconds(Aggregate):
    """percentile_cont(fraction) of an interval expression, in seconds (PostgreSQL's ordered-set aggregate)."""

    function = "percentile_cont"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY EXTRACT(EPOCH FROM %(expressions)s))"
    output_field = FloatField()

    def __init__(self, expression, fraction: float, **extra):
        super().__init__(expression, fraction=float(fraction), **extra)


@dataclass(frozen=True)
class CallPath:
    """Per-call re-authorisation over the window: request → approval → allowed call, in seconds."""

    allowed: int  # calls allowed by an approval (consumed)
    median_seconds: float | None  # asked → the allowed call
    p95_seconds: float | None
    approve_median_seconds: float | None  # asked → approved (approvals used or not)
    approve_p95_seconds: float | None
    denied: int
    lapsed: int  # expired unanswered (pending past their expiry, or approved and never used)

    @property
    def empty(self) -> bool:
        return not (self.allowed or self.denied or self.lapsed or self.approve_median_seconds is not None)


def call_path(calls: QuerySet[CallAuthorisation], now, since) -> CallPath:
    """One aggregate over the per-call authorisations asked since `since`."""
    used = Q(state=CallState.CONSUMED)
    decided = Q(state__in=[CallState.APPROVED, CallState.CONSUMED])
    found = (
        calls.filter(requested_at__gte=since)
        .order_by()
        .aggregate(
            allowed=Count("pk", filter=used),
            median_seconds=PercentileSeconds(F("consumed_at") - F("requested_at"), 0.5, filter=used),
            p95_seconds=PercentileSeconds(F("consumed_at") - F("requested_at"), 0.95, filter=used),
            approve_median_seconds=PercentileSeconds(F("decided_at") - F("requested_at"), 0.5, filter=decided),
            approve_p95_seconds=PercentileSeconds(F("decided_at") - F("requested_at"), 0.95, filter=decided),
            denied=Count("pk", filter=Q(state=CallState.DENIED)),
            lapsed=Count(
                "pk",
                filter=Q(state=CallState.PENDING, expires_at__lte=now)
                | Q(state=CallState.APPROVED, valid_until__lte=now),
            ),
        )
    )
    return CallPath(**found)


@dataclass(frozen=True)
class Insight:
    standing_read: int
    standing_privileged: int  # standing write, admin or execute
    jit_live: int
    requests: int
    pending: int
    approved: int
    auto_approved: int
    denied: int
    withdrawn: int
    expired: int  # expired unanswered, swept or not
    median_seconds: float | None  # time from asking to the grant, approvals by people only
    p90_seconds: float | None
    break_glass: int | None  # None: not recorded here yet
    calls: CallPath | None = None  # the per-call path, over the identities given
    days: int = DAYS

    @property
    def standing(self) -> int:
        return self.standing_read + self.standing_privileged

    @property
    def decided(self) -> int:
        return self.approved - self.auto_approved + self.denied

    @property
    def approval_rate(self) -> int | None:
        """Per cent of requests decided by people that were approved."""
        return round(100 * (self.approved - self.auto_approved) / self.decided) if self.decided else None

    @property
    def denial_rate(self) -> int | None:
        return 100 - self.approval_rate if self.approval_rate is not None else None

    @property
    def jit_share(self) -> int | None:
        """Per cent of live privileged access (write, admin, execute) held just in time, not standing."""
        total = self.jit_live + self.standing_privileged
        return round(100 * self.jit_live / total) if total else None


def figures(requests: QuerySet[ElevationRequest], entitlements: QuerySet[Entitlement], identities=None) -> Insight:
    now = timezone.now()
    since = now - timedelta(days=DAYS)
    live = Q(revoked_at__isnull=True) & (Q(expires_at__isnull=True) | Q(expires_at__gt=now))
    standing = Q(mode=EntitlementMode.STANDING)
    held = entitlements.order_by().aggregate(
        standing_read=Count("pk", filter=live & standing & Q(action="read")),
        standing_privileged=Count("pk", filter=live & standing & ~Q(action="read")),
        jit_live=Count("pk", filter=live & Q(mode=EntitlementMode.JIT, grant__ended_at__isnull=True)),
    )
    expired = Q(state=RequestState.EXPIRED) | Q(state=RequestState.PENDING, expires_at__lte=now)
    by_people = Q(state=RequestState.APPROVED, approvals_needed__gt=0)
    asked = requests.filter(created_at__gte=since).order_by()
    ended = asked.aggregate(
        requests=Count("pk"),
        pending=Count("pk", filter=Q(state=RequestState.PENDING, expires_at__gt=now)),
        approved=Count("pk", filter=Q(state=RequestState.APPROVED)),
        auto_approved=Count("pk", filter=Q(state=RequestState.APPROVED, approvals_needed=0)),
        denied=Count("pk", filter=Q(state=RequestState.DENIED)),
        withdrawn=Count("pk", filter=Q(state=RequestState.WITHDRAWN)),
        expired=Count("pk", filter=expired),
        median_seconds=PercentileSeconds(F("decided_at") - F("created_at"), 0.5, filter=by_people),
        p90_seconds=PercentileSeconds(F("decided_at") - F("created_at"), 0.9, filter=by_people),
    )
    break_glass = calls = None
    if _BREAK_GLASS and identities is not None:
        break_glass = _BREAK_GLASS[0](since, identities)
    if identities is not None:
        calls = call_path(CallAuthorisation.objects.filter(identity__in=identities), now, since)
    return Insight(**held, **ended, break_glass=break_glass, calls=calls)


def duration(seconds: float | None) -> str:
    """A time to approve in words: 45 s, 12 min, 3.5 h, 2.1 d."""
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def _shown(insight: Insight) -> dict:
    path = insight.calls
    return {
        "insight": insight,
        "median": duration(insight.median_seconds),
        "p90": duration(insight.p90_seconds),
        "call_median": duration(path.median_seconds) if path else "—",
        "call_p95": duration(path.p95_seconds) if path else "—",
        "call_approve_median": duration(path.approve_median_seconds) if path else "—",
        "call_approve_p95": duration(path.approve_p95_seconds) if path else "—",
    }


def dashboard_panel(request) -> dict:
    """Over the identities the person may view: their requests, live access, break-glass and per-call path.

    Whoever may view an identity (identities.rules VIEW: a see-everything role, an owner holding the owner
    role, a manager of a current owner) also sees every request on it (reviews.visibility), so the requests
    counted are a subset of `requests_visible_to`; reading them by identity lets PostgreSQL start from the
    person's identities through the (identity, state) index instead of testing every request of the window
    against the visibility conditions (bench/bench_insight.py: seconds → milliseconds for a manager of 2,000
    agents). Requests the person sees for another reason only (asked or decided on an identity they do not
    view, reached by routing) are counted in the inbox and history, not here."""
    identities = Identity.objects.restrict(request.user, "view")
    entitlements = Entitlement.objects.filter(identity__in=identities)
    return _shown(figures(dashboard_requests(request.user, identities), entitlements, identities))


def dashboard_requests(user, identities=None) -> QuerySet[ElevationRequest]:
    """The requests the dashboard panel counts: those on the identities `user` may view."""
    if sees_every_identity(roles_of(user)):
        return ElevationRequest.objects.all()
    if identities is None:
        identities = Identity.objects.restrict(user, "view")
    return ElevationRequest.objects.filter(identity__in=identities)


def identity_panel(request, identity: Identity) -> dict:
    """One identity's (the page has decided the person may see it; its requests are still filtered)."""
    requests = requests_visible_to(request.user).filter(identity=identity)
    identities = Identity.objects.filter(pk=identity.pk)
    return _shown(figures(requests, Entitlement.objects.filter(identity=identity), identities))


register_panel(Panel("elevation", "reviews/insight_panel.html", INSIGHT_ROLES, dashboard_panel, order=15))
slots.register(
    slots.Slot("identity_detail", "elevation", "reviews/identity_insight.html", identity_panel, INSIGHT_ROLES, 30)
)
