"""Registry writes about an identity itself: who may change it, create and update, risk override, suspension."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from agentiam.errors import Conflict, invalid
from agentiam.permissions import Role, roles_of
from audit.trail import audit_record
from identities import rules
from identities.models import (
    Credential,
    Entitlement,
    Grant,
    Identity,
    IdentityStatus,
    Ownership,
    OwnershipRole,
    RevocationStatus,
    Task,
)
from identities.models.registry import current_ownerships, standing
from identities.rules import (  # noqa: F401 - the refusals' texts, importable from identities.services
    ERR_ACCEPT_RISK,
    ERR_ADMIN_OWNS,
    ERR_AUP_APPROVER,
    ERR_LOWER_TIER,
    ERR_NOT_OWNER,
    ERR_ONLY_ADMIN,
    ERR_PRIVILEGED_NEEDS_ADMIN,
    ERR_READ_ONLY_OWNER,
    ERR_RESUME_ROLE,
    ERR_SUSPEND_ROLE,
    Right,
)
from identities.services.refresh import identity_refresh

__all__ = [
    "ERR_ADMIN_OWNS",
    "ERR_ALREADY_SUSPENDED",
    "ERR_AUP_APPROVER",
    "ERR_LOWER_TIER",
    "ERR_NOT_OWNER",
    "ERR_NOT_SUSPENDED",
    "ERR_OVERRIDE_SAME",
    "ERR_PARENT_CYCLE",
    "ERR_PRIVILEGED_NEEDS_ADMIN",
    "ERR_READ_ONLY_OWNER",
    "ERR_REASON_REQUIRED",
    "ERR_RESUME_ROLE",
    "ERR_SUSPENDED",
    "ERR_SUSPEND_ROLE",
    "IDENTITY_FIELDS",
    "identity_create",
    "identity_resume",
    "identity_update",
    "is_current_owner",
    "require",
    "tier_override_clear",
    "tier_override_set",
]

ERR_SUSPENDED = "This identity is suspended."
ERR_ALREADY_SUSPENDED = "This identity is already suspended."
ERR_NOT_SUSPENDED = "This identity is not suspended."
ERR_REASON_REQUIRED = "A reason is required."
ERR_PARENT_CYCLE = "An identity cannot be its own ancestor."
ERR_OVERRIDE_SAME = "The override must differ from the derived tier; clear the override instead."


def is_current_owner(
    identity: Identity, person, roles: Iterable[str] | None = None, at: datetime | None = None
) -> bool:
    qs = current_ownerships(at).filter(identity=identity, person=person)
    if roles is not None:
        qs = qs.filter(role__in=list(roles))
    return qs.exists()


def require(right: Right, identity: Identity, actor) -> None:
    """PermissionDenied with the rule's reason unless `actor` has `right` on `identity` (identities.rules)."""
    rules.may(right, standing(identity, actor)).check()


# --- identities ------------------------------------------------------------------------------------------

IDENTITY_FIELDS = (
    "kind",
    "name",
    "description",
    "environment",
    "hosting",
    "cloud_account",
    "region",
    "exposure",
    "capabilities",
    "model_provider",
    "model_name",
    "parent",
    "allowed_image_digests",
    "source_repository",
    "source_commit",
    "attestation_signer",
    "person",
    "external_id",
)


def _depth(parent: Identity | None) -> int:
    return 0 if parent is None else parent.delegation_depth + 1


@transaction.atomic
def identity_create(*, actor, accountable_owner=None, request=None, **fields: Any) -> Identity:
    """Register an identity. An identity owner registers it for themselves (they become its accountable
    owner); an administrator names the accountable owner (or leaves it orphaned, flagged)."""
    roles = roles_of(actor)
    if not roles & rules.CHANGERS:
        raise PermissionDenied(ERR_NOT_OWNER)
    if Role.ADMINISTRATOR not in roles:
        accountable_owner = actor
    identity = Identity(created_by=actor, **{k: v for k, v in fields.items() if k in IDENTITY_FIELDS})
    identity.delegation_depth = _depth(identity.parent)
    identity.full_clean(exclude=["created_by"])
    identity.save()
    if accountable_owner is not None:
        Ownership.objects.create(
            identity=identity,
            person=accountable_owner,
            role=OwnershipRole.ACCOUNTABLE,
            valid_from=timezone.now(),
            assigned_by=actor,
        )
    identity_refresh(identity)
    audit_record(
        actor=actor,
        action="identity.create",
        target=identity,
        request=request,
        changes={
            "kind": identity.kind,
            "environment": identity.environment,
            "accountable_owner": getattr(accountable_owner, "username", None),
        },
    )
    return identity


@transaction.atomic
def identity_update(*, identity: Identity, actor, request=None, **fields: Any) -> Identity:
    identity = Identity.objects.select_for_update().get(pk=identity.pk)
    require(Right.CHANGE, identity, actor)
    was = identity_refresh(identity, save=False).derived_tier  # from its inputs now, not a stale column
    before = {name: getattr(identity, name) for name in fields if name in IDENTITY_FIELDS}
    for name, value in fields.items():
        if name in IDENTITY_FIELDS and name != "kind":
            setattr(identity, name, value)
    ancestor = identity.parent
    while ancestor is not None:
        if ancestor.pk == identity.pk:
            raise invalid("parent", ERR_PARENT_CYCLE)
        ancestor = ancestor.parent
    identity.delegation_depth = _depth(identity.parent)
    identity.full_clean(exclude=["created_by"])
    identity.save()
    identity_refresh(identity)
    if rules.lowers(was, identity.derived_tier):
        require(Right.LOWER_TIER, identity, actor)  # refused: the transaction undoes the change
    changed = {k: [str(v), str(getattr(identity, k))] for k, v in before.items() if v != getattr(identity, k)}
    audit_record(actor=actor, action="identity.update", target=identity, request=request, changes=changed)
    return identity


# --- risk override ----------------------------------------------------------------------------------------


@transaction.atomic
def tier_override_set(*, identity: Identity, actor, tier: str, reason: str, request=None) -> Identity:
    identity = Identity.objects.select_for_update().get(pk=identity.pk)
    require(Right.ADMINISTER, identity, actor)
    if not reason.strip():
        raise invalid("reason", ERR_REASON_REQUIRED)
    if tier == identity.derived_tier:
        raise invalid("tier", ERR_OVERRIDE_SAME)
    previous = identity.risk_tier
    identity.tier_override, identity.tier_override_reason = tier, reason
    identity.tier_override_by, identity.tier_override_at = actor, timezone.now()
    identity.save(update_fields=["tier_override", "tier_override_reason", "tier_override_by", "tier_override_at"])
    identity_refresh(identity)
    audit_record(
        actor=actor,
        action="identity.tier_override",
        target=identity,
        request=request,
        changes={"from": previous, "to": tier, "derived": identity.derived_tier, "reason": reason},
    )
    return identity


@transaction.atomic
def tier_override_clear(*, identity: Identity, actor, reason: str, request=None) -> Identity:
    identity = Identity.objects.select_for_update().get(pk=identity.pk)
    require(Right.ADMINISTER, identity, actor)
    previous = identity.tier_override
    identity.tier_override, identity.tier_override_reason, identity.tier_override_by = "", "", None
    identity.tier_override_at = None
    identity.save(update_fields=["tier_override", "tier_override_reason", "tier_override_by", "tier_override_at"])
    identity_refresh(identity)
    audit_record(
        actor=actor,
        action="identity.tier_override_clear",
        target=identity,
        request=request,
        changes={"was": previous, "reason": reason},
    )
    return identity


# --- kill switch --------------------------------------------------------------------------------------------


@transaction.atomic
def _identity_suspend(
    *, identity: Identity, actor, reason: str, request=None, audit_extra: dict | None = None
) -> dict[str, int]:
    """Suspend now: end JIT entitlements and grants, close tasks, request credential revocation — one
    transaction, so a failure midway leaves nothing half-done. Private: callers use identities.runtime's
    identity_suspend, which also revokes the identity's tokens."""
    identity = Identity.objects.select_for_update().get(pk=identity.pk)
    require(Right.SUSPEND, identity, actor)
    if not reason.strip():
        raise invalid("reason", ERR_REASON_REQUIRED)
    if identity.status == IdentityStatus.SUSPENDED:
        raise Conflict(ERR_ALREADY_SUSPENDED)
    now = timezone.now()
    identity.status, identity.status_reason, identity.status_changed_at = IdentityStatus.SUSPENDED, reason, now
    identity.save(update_fields=["status", "status_reason", "status_changed_at", "updated_at"])
    jit = Entitlement.objects.filter(identity=identity, mode="jit", revoked_at__isnull=True)
    revoked = jit.update(revoked_at=now, revoked_by=actor, revoke_reason=f"identity suspended: {reason}")
    grants = Grant.objects.filter(identity=identity, ended_at__isnull=True).update(
        ended_at=now, ended_by=actor, end_reason=f"identity suspended: {reason}"
    )
    tasks = Task.objects.filter(identity=identity, state=Task.State.OPEN).update(
        state=Task.State.CANCELLED, completed_at=now, completed_by=actor, end_reason=f"identity suspended: {reason}"
    )
    credentials = (
        Credential.objects.filter(holders=identity)
        .exclude(revocation_status__in=[RevocationStatus.REQUESTED, RevocationStatus.CONFIRMED])
        .update(
            revocation_status=RevocationStatus.REQUESTED,
            revocation_requested_at=now,
            revocation_reason=f"identity {identity.name} suspended: {reason}",
        )
    )
    identity_refresh(identity)
    counts = {"jit_entitlements": revoked, "grants": grants, "tasks": tasks, "credentials": credentials}
    audit_record(
        actor=actor,
        action="identity.suspend",
        target=identity,
        request=request,
        changes={"reason": reason, **counts, **(audit_extra or {})},
    )
    return counts


@transaction.atomic
def identity_resume(*, identity: Identity, actor, reason: str, request=None) -> Identity:
    """Resume a suspended identity. Restores nothing: access must be granted again."""
    identity = Identity.objects.select_for_update().get(pk=identity.pk)
    require(Right.RESUME, identity, actor)
    if not reason.strip():
        raise invalid("reason", ERR_REASON_REQUIRED)
    if identity.status != IdentityStatus.SUSPENDED:
        raise Conflict(ERR_NOT_SUSPENDED)
    identity.status, identity.status_reason, identity.status_changed_at = IdentityStatus.ACTIVE, reason, timezone.now()
    identity.save(update_fields=["status", "status_reason", "status_changed_at", "updated_at"])
    audit_record(actor=actor, action="identity.resume", target=identity, request=request, changes={"reason": reason})
    return identity
