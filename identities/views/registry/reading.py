"""What the identity page shows, read in a bounded number of queries whatever the identity's size."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Count, Max, OuterRef, Prefetch, Q, Subquery, Sum
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEntry
from identities import risk
from identities.models import (
    AcceptableUse,
    Credential,
    Entitlement,
    EntitlementUsage,
    Flag,
    Grant,
    Identity,
    Ownership,
    RiskException,
    Task,
)
from identities.services import OLD_STATIC_SECRET_DAYS
from identities.views.registry.common import Abilities

ACTIVE_SHOWN = 100
REVOKED_SHOWN = 25
TASKS_SHOWN = 15
AUDIT_SHOWN = 15
RELATED_IDS_CAP = 200

# What each flag means for the person reading the page, and what fixes it.
FLAG_GUIDE = {
    Flag.ORPHANED: "Nobody is accountable for it. Name an accountable owner below.",
    Flag.AUP_MISSING: "It has no acceptable-use record: say what it is for and what it may touch.",
    Flag.AUP_EXPIRED: "Its acceptable-use record has expired: add a current version.",
    Flag.FAN_OUT: (
        "One identity serves several workflows, so their actions share one trail and one set of access. "
        "Suggested fix: register one identity per workflow."
    ),
    Flag.SHARED_CREDENTIAL: "Another identity presents the same credential: issue each its own.",
    Flag.OLD_STATIC_SECRET: f"A static secret was not rotated for {OLD_STATIC_SECRET_DAYS} days: rotate it or move "
    "to short-lived credentials.",
    Flag.UNEXCEPTED_PRIVILEGE: (
        "It holds standing write or admin access at a high tier without a valid exception: the runtime denies "
        "those calls. Accept an exception or revoke the access."
    ),
}
FLAG_LABELS = dict(Flag.choices)


def risk_rules() -> list[str]:
    """The tier rules, in words, from identities.risk's documentation (one source for code and page)."""
    doc = risk.__doc__ or ""
    rules, current = [], None
    for line in doc.splitlines():
        if line.startswith("- "):
            current = line[2:].strip()
            rules.append(current)
        elif current is not None and line.startswith("  ") and line.strip():
            rules[-1] = f"{rules[-1]} {line.strip()}"
        else:
            current = None
    return rules


RISK_RULES = risk_rules()


def flag_items(identity: Identity, can: Abilities) -> list[dict]:
    """Each flag with what it means and, where the reader can act on it, the way there."""
    uuid = identity.uuid
    ways = {
        Flag.ORPHANED: (can.can_change, reverse("owner_assign", args=[uuid]), "Name an owner"),
        Flag.AUP_MISSING: (can.can_add_aup, reverse("aup_create", args=[uuid]), "Add acceptable use"),
        Flag.AUP_EXPIRED: (can.can_add_aup, reverse("aup_create", args=[uuid]), "Add a version"),
        Flag.FAN_OUT: (True, "#workflows", "See workflows"),
        Flag.SHARED_CREDENTIAL: (True, "#credentials", "See credentials"),
        Flag.OLD_STATIC_SECRET: (True, "#credentials", "See credentials"),
        Flag.UNEXCEPTED_PRIVILEGE: (True, "#entitlements", "See access"),
    }
    items = []
    for flag in identity.flags:
        allowed, url, action = ways.get(flag, (False, "", ""))
        items.append(
            {
                "code": flag,
                "label": FLAG_LABELS.get(flag, flag),
                "guide": FLAG_GUIDE.get(flag, ""),
                "url": url if allowed else "",
                "action": action,
            }
        )
    return items


def exception_state(entitlement: Entitlement, tier: str, now) -> str:
    """'' when no exception is needed; else valid / expired / missing for standing write or admin."""
    if entitlement.mode != "standing" or entitlement.action not in ("write", "admin"):
        return ""
    if entitlement.revoked_at is not None:
        return ""
    exceptions = list(entitlement.exceptions.all())
    if any(e.revoked_at is None and e.valid_until > now for e in exceptions):
        return "valid"
    if not risk.tier_at_least(tier, "high"):
        return ""
    return "expired" if exceptions else "missing"


USE_WINDOW_DAYS = 30  # the identity page's "uses in the last 30 days" beside each entitlement


def _entitlements(identity: Identity):
    # EntitlementUsage is kept current by audit.events.usage (allow decisions, task-token events).
    last_used = EntitlementUsage.objects.filter(entitlement=OuterRef("pk")).order_by("-last_used_at")
    since = (timezone.now() - timedelta(days=USE_WINDOW_DAYS)).date()
    recent_uses = (
        EntitlementUsage.objects.filter(entitlement=OuterRef("pk"), day__gte=since)
        .values("entitlement")
        .annotate(n=Sum("count"))
        .values("n")
    )
    exceptions = Prefetch(
        "exceptions", queryset=RiskException.objects.select_related("accepted_by").order_by("-valid_until")
    )
    base = (
        Entitlement.objects.filter(identity=identity)
        .select_related("tool", "tool__system", "granted_by", "revoked_by", "grant")
        .prefetch_related(exceptions)
    )
    active = list(
        base.filter(revoked_at__isnull=True)
        .annotate(last_used=Subquery(last_used.values("last_used_at")[:1]), uses_30d=Subquery(recent_uses))
        .order_by("mode", "tool__key", "action", "pk")[: ACTIVE_SHOWN + 1]
    )
    revoked = list(base.filter(revoked_at__isnull=False).order_by("-revoked_at")[:REVOKED_SHOWN])
    return active, revoked


def _audit(identity: Identity, entitlement_ids, credential_ids, task_ids, grant_ids) -> list[AuditEntry]:
    about = Q(object_type="identities.identity", object_id=str(identity.uuid))
    for object_type, ids in (
        ("identities.entitlement", entitlement_ids),
        ("identities.credential", credential_ids),
        ("identities.task", task_ids),
        ("identities.grant", grant_ids),
    ):
        if ids:
            about |= Q(object_type=object_type, object_id__in=[str(i) for i in ids[:RELATED_IDS_CAP]])
    exception_ids = RiskException.objects.filter(entitlement__identity=identity).values_list("uuid", flat=True)
    exception_ids = [str(i) for i in exception_ids[:RELATED_IDS_CAP]]
    if exception_ids:
        about |= Q(object_type="identities.riskexception", object_id__in=exception_ids)
    return list(AuditEntry.objects.filter(about).order_by("-id")[:AUDIT_SHOWN])


def identity_page(identity: Identity, can: Abilities, visible) -> dict:
    now = timezone.now()
    ownerships = list(
        Ownership.objects.filter(identity=identity)
        .select_related("person", "assigned_by", "ended_by")
        .order_by("-valid_from", "-pk")
    )
    current_owners = [o for o in ownerships if o.valid_from <= now and (o.valid_to is None or o.valid_to > now)]
    aups = list(AcceptableUse.objects.filter(identity=identity).select_related("approved_by").order_by("-version"))
    current_aup = next(
        (a for a in aups if a.valid_from <= now and (a.valid_until is None or a.valid_until > now)), None
    )
    active, revoked = _entitlements(identity)
    more_active = len(active) > ACTIVE_SHOWN
    active = active[:ACTIVE_SHOWN]
    for entitlement in [*active, *revoked]:
        entitlement.exception_state = exception_state(entitlement, identity.risk_tier, now)
    credentials = list(
        Credential.objects.filter(holders=identity)
        .annotate(holder_count=Count("holders", distinct=True), carried=Count("entitlements", distinct=True))
        .order_by("revocation_status", "name")
    )
    stale_before = now - timedelta(days=OLD_STATIC_SECRET_DAYS)
    for credential in credentials:
        credential.is_shared = credential.holder_count > 1
        rotated = credential.last_rotated_at or credential.issued_at
        credential.is_old = credential.is_static and rotated <= stale_before
    workflows = list(identity.workflows.annotate(identity_count=Count("identities")).order_by("name"))
    tasks = list(
        Task.objects.filter(identity=identity).select_related("workflow").order_by("-created_at")[:TASKS_SHOWN]
    )
    grants = list(
        Grant.objects.filter(identity=identity)
        .select_related("task", "created_by")
        .annotate(entitlement_count=Count("entitlements"))
        .order_by("-created_at")[:TASKS_SHOWN]
    )
    entitlement_ids = [e.uuid for e in active] + [e.uuid for e in revoked]
    audit = _audit(
        identity,
        entitlement_ids,
        [c.uuid for c in credentials],
        [t.uuid for t in tasks],
        [g.uuid for g in grants],
    )
    last_activity = EntitlementUsage.objects.filter(entitlement__identity=identity).aggregate(at=Max("last_used_at"))
    return {
        "identity": identity,
        "can": can,
        "flags": flag_items(identity, can),
        "risk_rules": RISK_RULES,
        "capabilities": [(code, risk.CAPABILITIES.get(code, code)) for code in identity.capabilities],
        "ownerships": ownerships,
        "current_owners": current_owners,
        "aups": aups,
        "current_aup": current_aup,
        "active_entitlements": active,
        "more_active": more_active,
        "revoked_entitlements": revoked,
        "credentials": credentials,
        "identifiers": list(identity.identifiers.select_related("workflow").order_by("kind", "value")),
        "workflows": workflows,
        "tasks": tasks,
        "grants": grants,
        "children": list(visible.filter(parent=identity).order_by("name")[:20]),
        "audit": audit,
        "last_used": last_activity["at"],
        "now": now,
    }
