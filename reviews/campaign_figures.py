"""A campaign run's figures for its dashboard and its report, read in a fixed number of queries whatever the
number of items (PostgreSQL aggregates; percentile_cont for the time per decision):

- progress: items by state, overdue (pending past their due time), unrouted, escalated, re-routed;
- items by recommendation and by decision, and how often reviewers followed the recommendation;
- revoke rate (revoke + reduce among decided items), the share of reviewers' decisions made in bulk, and the
  median time a reviewer spent per decision (bulk decisions left out: they record no time of their own);
- progress per reviewer (pending, decided, overdue, bulk share, median time, signed off);
- fulfilment: pending, retrying with the last error, failed, waiting for an administrator, done;
- the burn-down: items still open at each day's end, from the start to today (reviews.burndown draws it).

Read-only; pages and the report call it after their own permission checks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from django.db import connection
from django.utils import timezone

from reviews import burndown
from reviews.models import CampaignRun, ReviewerSignOff, ReviewItem
from reviews.models_campaigns import FulfilmentStatus

__all__ = ["Figures", "ReviewerRow", "figures", "percent"]

REVIEWERS_SHOWN = 50
FAILURES_SHOWN = 20


def percent(part: int, whole: int) -> int | None:
    return round(100 * part / whole) if whole else None


_TOTALS = """
SELECT count(*) AS total,
       count(*) FILTER (WHERE state = 'pending') AS pending,
       count(*) FILTER (WHERE state = 'decided') AS decided,
       count(*) FILTER (WHERE state = 'fulfilled') AS fulfilled,
       count(*) FILTER (WHERE state = 'failed') AS failed,
       count(*) FILTER (WHERE state = 'pending' AND due_at < %(now)s) AS overdue,
       count(*) FILTER (WHERE state = 'pending' AND reviewer_id IS NULL) AS unrouted,
       count(*) FILTER (WHERE routed_via = 'escalated') AS escalated,
       count(*) FILTER (WHERE routed_via = 'rerouted') AS rerouted,
       count(*) FILTER (WHERE routed_via = 'reassigned') AS reassigned,
       count(*) FILTER (WHERE flagged) AS flagged,
       count(*) FILTER (WHERE recommendation = 'revoke') AS rec_revoke,
       count(*) FILTER (WHERE recommendation = 'keep') AS rec_keep,
       count(*) FILTER (WHERE recommendation = 'none') AS rec_none,
       count(*) FILTER (WHERE decision = 'certify') AS dec_certify,
       count(*) FILTER (WHERE decision = 'revoke') AS dec_revoke,
       count(*) FILTER (WHERE decision = 'reduce') AS dec_reduce,
       count(*) FILTER (WHERE decided_via = 'no_answer') AS via_no_answer,
       count(*) FILTER (WHERE decided_via = 'elsewhere') AS via_elsewhere,
       count(*) FILTER (WHERE decided_via = 'reviewer') AS via_reviewer,
       count(*) FILTER (WHERE decided_via = 'reviewer' AND bulk) AS bulk,
       count(*) FILTER (WHERE decided_via = 'reviewer' AND (
           (recommendation = 'revoke' AND decision IN ('revoke', 'reduce'))
           OR (recommendation = 'keep' AND decision = 'certify'))) AS followed,
       count(*) FILTER (WHERE decided_via = 'reviewer' AND recommendation <> 'none') AS advised,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY time_spent_ms)
           FILTER (WHERE decided_via = 'reviewer' AND NOT bulk AND time_spent_ms IS NOT NULL) AS median_ms,
       count(*) FILTER (WHERE fulfilment_status = 'pending' AND fulfilment_error = '') AS ful_pending,
       count(*) FILTER (WHERE fulfilment_status = 'pending' AND fulfilment_error <> '') AS ful_retrying,
       count(*) FILTER (WHERE fulfilment_status = 'failed') AS ful_failed,
       count(*) FILTER (WHERE fulfilment_status = 'awaiting_admin') AS ful_awaiting,
       count(*) FILTER (WHERE fulfilment_status = 'done') AS ful_done,
       count(*) FILTER (WHERE signed_off_at IS NOT NULL) AS signed_off_items,
       count(*) FILTER (WHERE stage > 1) AS later_items,
       count(*) FILTER (WHERE stage > 1 AND state = 'pending') AS later_pending,
       count(*) FILTER (WHERE stage > 1 AND decision = 'certify') AS later_confirmed,
       count(*) FILTER (WHERE stage > 1 AND decision IN ('revoke', 'reduce')) AS later_revoked
  FROM reviews_reviewitem WHERE run_id = %(run)s
"""

_REVIEWERS = """
SELECT i.reviewer_id, u.username, u.first_name, u.last_name,
       count(*) AS total,
       count(*) FILTER (WHERE i.state = 'pending') AS pending,
       count(*) FILTER (WHERE i.state = 'pending' AND i.due_at < %(now)s) AS overdue,
       count(*) FILTER (WHERE i.decided_via = 'reviewer') AS decided,
       count(*) FILTER (WHERE i.decided_via = 'reviewer' AND i.bulk) AS bulk,
       count(*) FILTER (WHERE i.decision IN ('revoke', 'reduce') AND i.decided_via = 'reviewer') AS revoked,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY i.time_spent_ms)
           FILTER (WHERE i.decided_via = 'reviewer' AND NOT i.bulk AND i.time_spent_ms IS NOT NULL) AS median_ms,
       max(i.decided_at) FILTER (WHERE i.decided_via = 'reviewer') AS last_decided_at,
       count(*) OVER () AS reviewers
  FROM reviews_reviewitem i JOIN auth_user u ON u.id = i.reviewer_id
 WHERE i.run_id = %(run)s
 GROUP BY i.reviewer_id, u.username, u.first_name, u.last_name
 ORDER BY count(*) FILTER (WHERE i.state = 'pending' AND i.due_at < %(now)s) DESC,
          count(*) FILTER (WHERE i.state = 'pending') DESC, u.username
 LIMIT %(limit)s
"""

# Items decided (any way) per UTC day; what is still open at a day's end is the total minus the running sum.
_DAYS = """
SELECT (decided_at AT TIME ZONE 'UTC')::date AS day, count(*)
  FROM reviews_reviewitem WHERE run_id = %(run)s AND state <> 'pending' AND decided_at IS NOT NULL
 GROUP BY 1 ORDER BY 1
"""


@dataclass(frozen=True)
class ReviewerRow:
    id: int
    username: str
    name: str
    total: int
    pending: int
    overdue: int
    decided: int
    bulk: int
    revoked: int
    median_ms: float | None
    last_decided_at: datetime | None
    signed_off: bool

    @property
    def done_percent(self) -> int:
        return percent(self.total - self.pending, self.total) or 0

    @property
    def bulk_percent(self) -> int | None:
        return percent(self.bulk, self.decided)


@dataclass(frozen=True)
class Figures:
    totals: dict
    reviewers: list[ReviewerRow]
    reviewer_count: int
    failures: list[ReviewItem]
    chart: burndown.Chart | None
    now: datetime

    def __getattr__(self, name):  # totals read as attributes in templates: figures.pending
        try:
            return self.__dict__["totals"][name]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def done(self) -> int:
        return self.totals["total"] - self.totals["pending"]

    @property
    def done_percent(self) -> int:
        return percent(self.done, self.totals["total"]) or 0

    @property
    def revoke_rate(self) -> int | None:
        t = self.totals
        return percent(t["dec_revoke"] + t["dec_reduce"], t["dec_certify"] + t["dec_revoke"] + t["dec_reduce"])

    @property
    def bulk_share(self) -> int | None:
        return percent(self.totals["bulk"], self.totals["via_reviewer"])

    @property
    def followed_share(self) -> int | None:
        return percent(self.totals["followed"], self.totals["advised"])

    @property
    def median_seconds(self) -> float | None:
        ms = self.totals["median_ms"]
        return None if ms is None else round(ms / 1000, 1)

    @property
    def fulfilment_open(self) -> int:
        t = self.totals
        return t["ful_pending"] + t["ful_retrying"] + t["ful_failed"] + t["ful_awaiting"]

    def as_dict(self) -> dict:
        """The figures as plain JSON (the report freezes them)."""
        return {
            **{key: (round(value, 1) if isinstance(value, float) else value) for key, value in self.totals.items()},
            "done": self.done,
            "revoke_rate_percent": self.revoke_rate,
            "bulk_share_percent": self.bulk_share,
            "followed_recommendation_percent": self.followed_share,
            "median_seconds_per_decision": self.median_seconds,
        }


def _rows(cursor) -> list[dict]:
    names = [column.name for column in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _day(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


def figures(run: CampaignRun, *, now: datetime | None = None, reviewers: int = REVIEWERS_SHOWN) -> Figures:
    """Five queries: totals, reviewers, days, sign-offs, failures."""
    now = now or timezone.now()
    params = {"run": run.pk, "now": now, "limit": reviewers}
    with connection.cursor() as cursor:
        cursor.execute(_TOTALS, params)
        totals = _rows(cursor)[0]
        cursor.execute(_REVIEWERS, params)
        reviewer_rows = _rows(cursor)
        cursor.execute(_DAYS, params)
        decided_by_day = cursor.fetchall()
    signed = set(ReviewerSignOff.objects.filter(run=run).values_list("reviewer_id", flat=True))
    rows = [
        ReviewerRow(
            id=row["reviewer_id"],
            username=row["username"],
            name=f"{row['first_name']} {row['last_name']}".strip() or row["username"],
            total=row["total"],
            pending=row["pending"],
            overdue=row["overdue"],
            decided=row["decided"],
            bulk=row["bulk"],
            revoked=row["revoked"],
            median_ms=row["median_ms"],
            last_decided_at=row["last_decided_at"],
            signed_off=row["reviewer_id"] in signed,
        )
        for row in reviewer_rows
    ]
    failing = (
        ReviewItem.objects.filter(run=run)
        .filter(fulfilment_status__in=[FulfilmentStatus.FAILED, FulfilmentStatus.PENDING])
        .exclude(fulfilment_status=FulfilmentStatus.PENDING, fulfilment_error="")
        .select_related("identity", "entitlement__tool", "role_holder")
        .order_by("-state", "fulfilment_next_at", "pk")[:FAILURES_SHOWN]
    )
    return Figures(
        totals=totals,
        reviewers=rows,
        reviewer_count=reviewer_rows[0]["reviewers"] if reviewer_rows else 0,
        failures=list(failing),
        chart=_chart(run, totals["total"], decided_by_day, now),
        now=now,
    )


def _chart(run: CampaignRun, total: int, decided_by_day, now: datetime) -> burndown.Chart | None:
    started = run.opened_at or run.stage_started_at or run.launched_at
    if not total or started is None or run.due_at is None:
        return None
    start, due = _day(started), _day(run.due_at)
    end = max(_day(now), start)  # past the deadline the line goes on to today
    counts = dict(decided_by_day)
    days, done = [], sum(count for day, count in counts.items() if day < start)
    day = start
    while day <= end:
        done += counts.get(day, 0)
        days.append((day, total - done))
        day += timedelta(days=1)
    return burndown.chart(days=days, total=total, start=start, due=due, today=_day(now))
