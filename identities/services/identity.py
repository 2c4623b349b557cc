"""Registry writes: identities, identifiers, ownership, acceptable use, risk, suspension."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from agentiam.permissions import Role, roles_of
from audit.trail import audit_record
from identities.errors import Conflict, invalid
from identities.models import (
    AcceptableUse,
    Credential,
    Entitlement,
    Flag,
    Grant,
    Identity,
    IdentityKind,
    IdentityStatus,
    Ownership,
    OwnershipRole,
    RevocationStatus,
    Task,
)
from identities.models.registry import current_ownerships
from identities.risk import RiskInputs, StandingAccess, assess_risk

OLD_STATIC_SECRET_DAYS = 90

ERR_NOT_OWNER = "Only a current owner of this identity or an administrator may change it."
ERR_ADMIN_OWNS = "Administrators may not make this change on an identity they own."
ERR_ONLY_ADMIN = "Only an administrator may make this change."
ERR_SUSPENDED = "This identity is suspended."
ERR_ALREADY_SUSPENDED = "This identity is already suspended."
ERR_NOT_SUSPENDED = "This identity is not suspended."
ERR_RESUME_ROLE = "Only an administrator or a security analyst who does not own this identity may resume it."
ERR_SUSPEND_ROLE = "Only an administrator, a security analyst or an owner of this identity may suspend it."
ERR_REASON_REQUIRED = "A reason is required."
ERR_AUP_APPROVER = "An acceptable-use record must be approved by a current accountable owner."
ERR_AUP_DATES = "valid_until must be after valid_from."
ERR_PARENT_CYCLE = "An identity cannot be its own ancestor."
ERR_OVERRIDE_SAME = "The override must differ from the derived tier; clear the override instead."


def is_current_owner(
    identity: Identity, person, roles: Iterable[str] | None = None, at: datetime | None = None
) -> bool:
    at = at or timezone.now()
    qs = Ownership.objects.filter(identity=identity, person=person, valid_from__lte=at).filter(
        Q(valid_to__isnull=True) | Q(valid_to__gt=at)
    )
    if roles is not None:
        qs = qs.filter(role__in=list(roles))
    return qs.exists()


def require_can_change(identity: Identity, actor) -> None:
    roles = roles_of(actor)
    owner = is_current_owner(identity, actor)
    if owner and Role.IDENTITY_OWNER in roles:
        return
    if Role.ADMINISTRATOR in roles and not owner:
        return
    raise PermissionDenied(ERR_NOT_OWNER)


def require_admin_not_owner(identity: Identity, actor) -> None:
    if Role.ADMINISTRATOR not in roles_of(actor):
        raise PermissionDenied(ERR_ONLY_ADMIN)
    if is_current_owner(identity, actor):
        raise PermissionDenied(ERR_ADMIN_OWNS)


# --- derived state --------------------------------------------------------------------------------------


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
        not Ownership.objects.filter(
            identity=identity, role=OwnershipRole.ACCOUNTABLE, valid_from__lte=now, person__is_active=True
        )
        .filter(Q(valid_to__isnull=True) | Q(valid_to__gt=now))
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
    from identities.models import RiskException

    return RiskException.objects.filter(revoked_at__isnull=True, valid_until__gt=now)


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
    if not roles & {Role.IDENTITY_OWNER, Role.ADMINISTRATOR}:
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
    require_can_change(identity, actor)
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
    changed = {k: [str(v), str(getattr(identity, k))] for k, v in before.items() if v != getattr(identity, k)}
    audit_record(actor=actor, action="identity.update", target=identity, request=request, changes=changed)
    return identity


# --- ownership --------------------------------------------------------------------------------------------

ERR_OWNER_ROLE = "Only persons who hold the identity owner role can be named owners."
ERR_OWNER_INACTIVE = "Only active persons can be named owners."
ERR_ALREADY_OWNER = "This person already owns the identity in that role."


def _check_owner_candidate(person) -> None:
    if not person.is_active:
        raise invalid("person", ERR_OWNER_INACTIVE)
    if Role.IDENTITY_OWNER not in roles_of(person):
        raise invalid("person", ERR_OWNER_ROLE)


@transaction.atomic
def ownership_assign(*, identity: Identity, person, role: str, actor, request=None) -> Ownership:
    """Name a person owner in a role; a new accountable owner replaces the current one (a transfer)."""
    identity = Identity.objects.select_for_update().get(pk=identity.pk)
    require_can_change(identity, actor)
    _check_owner_candidate(person)
    now = timezone.now()
    current = Ownership.objects.filter(identity=identity, valid_to__isnull=True)
    if current.filter(person=person, role=role).exists():
        raise invalid("person", ERR_ALREADY_OWNER)
    ended = []
    if role == OwnershipRole.ACCOUNTABLE:
        for previous in current.filter(role=OwnershipRole.ACCOUNTABLE):
            Ownership.objects.filter(pk=previous.pk).update(valid_to=now, ended_by=actor, end_reason="transferred")
            ended.append(previous.person.username)
    ownership = Ownership.objects.create(identity=identity, person=person, role=role, valid_from=now, assigned_by=actor)
    identity_refresh(identity)
    audit_record(
        actor=actor,
        action="ownership.assign",
        target=identity,
        request=request,
        changes={"person": person.username, "role": role, "replaced": ended},
    )
    return ownership


@transaction.atomic
def ownership_end(*, ownership: Ownership, actor, reason: str, request=None) -> Ownership:
    identity = Identity.objects.select_for_update().get(pk=ownership.identity_id)
    require_can_change(identity, actor)
    if not reason.strip():
        raise invalid("reason", ERR_REASON_REQUIRED)
    Ownership.objects.filter(pk=ownership.pk, valid_to__isnull=True).update(
        valid_to=timezone.now(), ended_by=actor, end_reason=reason
    )
    identity_refresh(identity)
    audit_record(
        actor=actor,
        action="ownership.end",
        target=identity,
        request=request,
        changes={"person": ownership.person.username, "role": ownership.role, "reason": reason},
    )
    ownership.refresh_from_db()
    return ownership


@transaction.atomic
def ownership_transfer_bulk(*, identities: Iterable[Identity], to_person, actor, reason: str, request=None) -> int:
    """Make `to_person` the accountable owner of many identities at once; one audit entry with a digest."""
    import hashlib

    if not reason.strip():
        raise invalid("reason", ERR_REASON_REQUIRED)
    _check_owner_candidate(to_person)
    moved = []
    for identity in Identity.objects.select_for_update().filter(pk__in=[i.pk for i in identities]).order_by("pk"):
        require_can_change(identity, actor)
        now = timezone.now()
        Ownership.objects.filter(identity=identity, role=OwnershipRole.ACCOUNTABLE, valid_to__isnull=True).update(
            valid_to=now, ended_by=actor, end_reason=f"transferred: {reason}"
        )
        Ownership.objects.filter(
            identity=identity, person=to_person, role=OwnershipRole.ACCOUNTABLE, valid_to__isnull=True
        ).delete()
        Ownership.objects.create(
            identity=identity, person=to_person, role=OwnershipRole.ACCOUNTABLE, valid_from=now, assigned_by=actor
        )
        identity_refresh(identity)
        moved.append(str(identity.uuid))
    digest = hashlib.sha256("\n".join(sorted(moved)).encode()).hexdigest()
    audit_record(
        actor=actor,
        action="ownership.transfer_bulk",
        object_type="identities.identity",
        object_label=f"{len(moved)} identities",
        request=request,
        changes={"to": to_person.username, "count": len(moved), "sha256": digest, "reason": reason},
    )
    return len(moved)


def owner_at(identity: Identity, when: datetime, role: str = OwnershipRole.ACCOUNTABLE):
    """Who owned `identity` in `role` at `when` (None if nobody did)."""
    row = (
        Ownership.objects.filter(identity=identity, role=role, valid_from__lte=when)
        .filter(Q(valid_to__isnull=True) | Q(valid_to__gt=when))
        .select_related("person")
        .first()
    )
    return row.person if row else None


# --- acceptable use ---------------------------------------------------------------------------------------


@transaction.atomic
def aup_add_version(
    *,
    identity: Identity,
    actor,
    purpose: str,
    allowed_tools: list[str],
    data_classes: list[str],
    prohibited_actions: str = "",
    human_in_the_loop: str = "",
    valid_from: datetime | None = None,
    valid_until: datetime | None = None,
    request=None,
) -> AcceptableUse:
    """A new version, approved by its author, who must be a current accountable owner."""
    identity = Identity.objects.select_for_update().get(pk=identity.pk)
    if not is_current_owner(identity, actor, roles=[OwnershipRole.ACCOUNTABLE]):
        raise PermissionDenied(ERR_AUP_APPROVER)
    if not purpose.strip():
        raise invalid("purpose", "purpose is required.")
    now = timezone.now()
    valid_from = valid_from or now
    if valid_until is not None and valid_until <= valid_from:
        raise invalid("valid_until", ERR_AUP_DATES)
    latest = AcceptableUse.objects.filter(identity=identity).order_by("-version").values_list("version", flat=True)
    version = (latest.first() or 0) + 1
    record = AcceptableUse.objects.create(
        identity=identity,
        version=version,
        purpose=purpose,
        allowed_tools=allowed_tools,
        data_classes=data_classes,
        prohibited_actions=prohibited_actions,
        human_in_the_loop=human_in_the_loop,
        valid_from=valid_from,
        valid_until=valid_until,
        approved_by=actor,
        approved_at=now,
    )
    identity_refresh(identity)
    audit_record(
        actor=actor,
        action="acceptable_use.add_version",
        target=identity,
        request=request,
        changes={"version": version, "allowed_tools": allowed_tools, "valid_until": valid_until},
    )
    return record


def current_aup(identity: Identity, at: datetime | None = None) -> AcceptableUse | None:
    at = at or timezone.now()
    return (
        AcceptableUse.objects.filter(identity=identity, valid_from__lte=at)
        .filter(Q(valid_until__isnull=True) | Q(valid_until__gt=at))
        .order_by("-version")
        .first()
    )


# --- risk override ----------------------------------------------------------------------------------------


@transaction.atomic
def tier_override_set(*, identity: Identity, actor, tier: str, reason: str, request=None) -> Identity:
    identity = Identity.objects.select_for_update().get(pk=identity.pk)
    require_admin_not_owner(identity, actor)
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
    require_admin_not_owner(identity, actor)
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
def identity_suspend(*, identity: Identity, actor, reason: str, request=None) -> dict[str, int]:
    """Suspend now: end JIT entitlements and grants, close tasks, request credential revocation — one
    transaction, so a failure midway leaves nothing half-done."""
    identity = Identity.objects.select_for_update().get(pk=identity.pk)
    roles = roles_of(actor)
    owner = is_current_owner(identity, actor)
    if not (roles & {Role.ADMINISTRATOR, Role.SECURITY_ANALYST} or (owner and Role.IDENTITY_OWNER in roles)):
        raise PermissionDenied(ERR_SUSPEND_ROLE)
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
        actor=actor, action="identity.suspend", target=identity, request=request, changes={"reason": reason, **counts}
    )
    return counts


@transaction.atomic
def identity_resume(*, identity: Identity, actor, reason: str, request=None) -> Identity:
    """Resume a suspended identity. Restores nothing: access must be granted again."""
    identity = Identity.objects.select_for_update().get(pk=identity.pk)
    if not roles_of(actor) & {Role.ADMINISTRATOR, Role.SECURITY_ANALYST} or is_current_owner(identity, actor):
        raise PermissionDenied(ERR_RESUME_ROLE)
    if not reason.strip():
        raise invalid("reason", ERR_REASON_REQUIRED)
    if identity.status != IdentityStatus.SUSPENDED:
        raise Conflict(ERR_NOT_SUSPENDED)
    identity.status, identity.status_reason, identity.status_changed_at = IdentityStatus.ACTIVE, reason, timezone.now()
    identity.save(update_fields=["status", "status_reason", "status_changed_at", "updated_at"])
    audit_record(actor=actor, action="identity.resume", target=identity, request=request, changes={"reason": reason})
    return identity


def identities_refresh_owned_by(person) -> int:
    """Recompute identities `person` currently owns (their orphan state follows the person's status)."""
    owned = current_ownerships().filter(person=person).values("identity_id")
    count = 0
    for identity in Identity.objects.filter(pk__in=owned).order_by("pk").select_for_update():
        identity_refresh(identity)
        count += 1
    return count
