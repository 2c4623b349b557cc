"""An identity's derived state: risk tier, orphan state and flags, recomputed in the caller's transaction."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.utils import timezone

from identities.models import (
    AcceptableUse,
    Credential,
    Entitlement,
    Flag,
    Identity,
    IdentityKind,
    OwnershipRole,
    RevocationStatus,
    RiskException,
)
from identities.models.registry import current_ownerships
from identities.risk import RiskInputs, StandingAccess, assess_risk

__all__ = [
    "OLD_STATIC_SECRET_DAYS",
    "identities_refresh_owned_by",
    "identity_refresh",
]

OLD_STATIC_SECRET_DAYS = 90


def _standing_access(identity: Identity) -> tuple[StandingAccess, ...]:
    rows = Entitlement.objects.filter(identity=identity, mode="standing", revoked_at__isnull=True).values_list(
        "action", "tool__production", "tool__production_secrets"
    )
    return tuple(StandingAccess(action=a, production_tool=p, production_secret_tool=s) for a, p, s in rows)


def identity_refresh(identity: Identity, *, now: datetime | None = None, save: bool = True) -> Identity:
    """Recompute risk tier, orphan state and flags from the identity's current inputs (same transaction)."""
    now = now or timezone.now()
    assessment = assess_risk(
        RiskInputs(
            kind=identity.kind,
            environment=identity.environment,
            exposure=identity.exposure,
            capabilities=frozenset(identity.capabilities),
            standing=_standing_access(identity),
            delegation_depth=identity.delegation_depth,
        )
    )
    identity.derived_tier = assessment.tier
    identity.risk_reasons = assessment.as_json()
    identity.risk_assessed_at = now
    identity.risk_tier = identity.tier_override or assessment.tier
    identity.is_orphaned = (
        not current_ownerships(now)
        .filter(identity=identity, role=OwnershipRole.ACCOUNTABLE, person__is_active=True)
        .exists()
    )
    identity.flags = sorted(_flags(identity, now))
    if save and identity.pk:
        identity.save(
            update_fields=[
                "derived_tier",
                "risk_reasons",
                "risk_assessed_at",
                "risk_tier",
                "is_orphaned",
                "flags",
                "updated_at",
            ]
        )
    return identity


def _flags(identity: Identity, now: datetime) -> set[str]:
    flags: set[str] = set()
    if identity.is_orphaned:
        flags.add(Flag.ORPHANED)
    if identity.kind != IdentityKind.HUMAN:
        latest = AcceptableUse.objects.filter(identity=identity).order_by("-version").first()
        if latest is None:
            flags.add(Flag.AUP_MISSING)
        elif latest.valid_until is not None and latest.valid_until <= now:
            flags.add(Flag.AUP_EXPIRED)
    if identity.workflows.count() > 1:
        flags.add(Flag.FAN_OUT)
    credentials = Credential.objects.filter(holders=identity).exclude(revocation_status=RevocationStatus.CONFIRMED)
    for credential in credentials.prefetch_related("holders"):
        if len(credential.holders.all()) > 1:
            flags.add(Flag.SHARED_CREDENTIAL)
        rotated = credential.last_rotated_at or credential.issued_at
        if credential.is_static and rotated <= now - timedelta(days=OLD_STATIC_SECRET_DAYS):
            flags.add(Flag.OLD_STATIC_SECRET)
    if identity.risk_tier in ("high", "critical"):
        privileged = Entitlement.objects.filter(
            identity=identity, mode="standing", revoked_at__isnull=True, action__in=["write", "admin"]
        )
        if privileged.exclude(exceptions__in=_valid_exceptions(now)).exists():
            flags.add(Flag.UNEXCEPTED_PRIVILEGE)
    return flags


def _valid_exceptions(now):
    return RiskException.objects.filter(revoked_at__isnull=True, valid_until__gt=now)


def identities_refresh_owned_by(person) -> int:
    """Recompute identities `person` currently owns (their orphan state follows the person's status)."""
    owned = current_ownerships().filter(person=person).values("identity_id")
    count = 0
    for identity in Identity.objects.filter(pk__in=owned).order_by("pk").select_for_update():
        identity_refresh(identity)
        count += 1
    return count
