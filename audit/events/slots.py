"""The events app's page slots (agentiam.slots): on "My reviews" (`review_identity`), beside each identity's
evidence, its recent chain steps — tool, action, outcome, the gateway decision that allowed or denied the step —
each linking to its chain page. Reviews never imports this app: the page renders the slot and names its
identities first (`slots.prime`), and the slot reads for the whole page at its first call (two queries whatever
the identities) and keeps the answer on the request.

Permission-checked: steps through `events_visible_to(user)` (identities the person may view; the roles that see
everything see every one), decisions through `decisions_visible_to(user)`; quarantined steps are never shown
here. A reviewer who may not view the identity (a fallback-group member with no role) sees nothing."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta

from django.db.models import F, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from agentiam import slots
from audit.events.selectors import decisions_visible_to, events_visible_to

__all__ = ["STEPS_SHOWN", "STEPS_SINCE", "review_identity_context"]

STEPS_SHOWN = 5  # per identity
STEPS_SINCE = timedelta(days=7)  # the event table is partitioned by day: read only the last week's
_CACHE = "_events_review_identity"
ORDER = [F("started_at").desc(), F("id").desc()]
FIELDS = ("identity_id", "trace_id", "span_id", "name", "tool_key", "action", "outcome", "error_type", "started_at",
          "decision_id", "rank")  # fmt: skip


def _page_steps(request, identity) -> dict[int, list]:
    found = getattr(request, _CACHE, None)
    if found is not None and identity.pk in found:
        return found
    ids = {obj.pk for obj in slots.primed(request, "review_identity")} | {identity.pk}
    since = timezone.now() - STEPS_SINCE
    ranked = (
        events_visible_to(request.user)
        .filter(identity_id__in=ids, started_at__gte=since, quarantine="")
        .annotate(rank=Window(RowNumber(), partition_by=[F("identity_id")], order_by=ORDER))
        .filter(rank__lte=STEPS_SHOWN)  # in SQL: a busy agent's week of steps is not read
        .values(*FIELDS)
    )
    rows = list(ranked)
    decision_ids = {row["decision_id"] for row in rows if row["decision_id"]}
    decisions = {}
    if decision_ids:
        decisions = dict(
            decisions_visible_to(request.user).filter(uuid__in=decision_ids).values_list("uuid", "decision")
        )
    by_identity: dict[int, list] = defaultdict(list)
    for row in sorted(rows, key=lambda r: (r["identity_id"], r["rank"])):
        row["decision"] = decisions.get(row["decision_id"], "")
        by_identity[row["identity_id"]].append(row)
    found = {pk: by_identity.get(pk, []) for pk in ids}
    setattr(request, _CACHE, found)
    return found


def review_identity_context(request, identity) -> dict | None:
    if identity is None or not getattr(identity, "pk", None):
        return None
    steps = _page_steps(request, identity).get(identity.pk, [])
    if not steps:
        return None
    return {"steps": steps, "chains": len({row["trace_id"] for row in steps})}


slots.register(
    slots.Slot("review_identity", "chains", "audit_events/review_identity.html", review_identity_context, order=20)
)
