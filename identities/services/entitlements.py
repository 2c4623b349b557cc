"""Standing entitlements and the risk exceptions that accept them."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from agentiam.errors import Conflict, invalid
from audit import actors
from audit.trail import audit_record
from identities.models import (
    Action,
    Entitlement,
    EntitlementMode,
    EntitlementSource,
    Identity,
    IdentityStatus,
    RiskException,
    Tool,
)
from identities.risk import RiskInputs, StandingAccess, assess_risk, tier_at_least
from identities.scope import InvalidScope, validate_scope
from identities.services.credentials import _request_credential_revocation_for
from identities.services.identity import Right, require
from identities.services.refresh import _standing_access, identity_refresh

__all__ = [
    "ERR_ACTION_NOT_SUPPORTED",
    "ERR_ALREADY_REVOKED",
    "ERR_DUPLICATE",
    "ERR_EXCEPTION_NOT_NEEDED",
    "ERR_EXCEPTION_UNTIL",
    "ERR_EXPIRES_PAST",
    "ERR_IDENTITY_NOT_ACTIVE",
    "ERR_JIT_THROUGH_GRANT",
    "ERR_NEEDS_EXCEPTION",
    "MAX_EXCEPTION_DAYS",
    "entitlement_grant",
    "exception_accept",
]

ERR_ACTION_NOT_SUPPORTED = "This tool does not support the action {action}."
ERR_NEEDS_EXCEPTION = (
    "A standing {action} entitlement on a {tier}-risk identity needs an approved, expiring exception: give a reason "
    "and an end date for accepting the risk."
)
ERR_EXCEPTION_UNTIL = "The exception must end in the future, and within 365 days."
ERR_DUPLICATE = "An identical active standing entitlement already exists."
ERR_ALREADY_REVOKED = "This entitlement is already revoked."
ERR_IDENTITY_NOT_ACTIVE = "Access can only be granted to an active identity."
ERR_EXPIRES_PAST = "expires_at must be in the future."
ERR_JIT_THROUGH_GRANT = "JIT entitlements are created by grants only."
ERR_EXCEPTION_NOT_NEEDED = "Exceptions are for standing write or admin entitlements."
MAX_EXCEPTION_DAYS = 365


def _tier_with(identity: Identity, extra: StandingAccess | None) -> str:
    """The identity's effective tier if `extra` were added to its standing access."""
    if identity.tier_override:
        return identity.tier_override
    standing = _standing_access(identity) + ((extra,) if extra else ())
    return assess_risk(
        RiskInputs(
            kind=identity.kind,
            environment=identity.environment,
            exposure=identity.exposure,
            capabilities=frozenset(identity.capabilities),
            standing=standing,
            delegation_depth=identity.delegation_depth,
        )
    ).tier


def _check_exception_until(until: datetime | None) -> datetime:
    now = timezone.now()
    if until is None or until <= now or until > now + timedelta(days=MAX_EXCEPTION_DAYS):
        raise invalid("exception_until", ERR_EXCEPTION_UNTIL)
    return until


@transaction.atomic
def entitlement_grant(
    *,
    identity: Identity,
    tool: Tool,
    action: str,
    actor,
    scope: dict | None = None,
    reason: str = "",
    expires_at: datetime | None = None,
    exception_reason: str = "",
    exception_until: datetime | None = None,
    source: str = EntitlementSource.MANUAL,
    external_id: str | None = None,
    request=None,
    certified: str | None = None,
) -> Entitlement:
    """Grant standing access, following "who grants what": owners grant read on identities they own;
    write/admin/execute needs an administrator who does not own the identity, and on a high or critical
    identity (by the tier it would have after this grant) an exception accepted in the same step.

    `certified` is only for the narrower **read** entitlement of an access review's reduce decision, granted by
    the replacement (`_entitlement_replace`): the reviewer's authority was the campaign's. Privileged access is
    never granted on a review's authority."""
    identity = Identity.objects.select_for_update().get(pk=identity.pk)
    if identity.status != IdentityStatus.ACTIVE:
        raise Conflict(ERR_IDENTITY_NOT_ACTIVE)
    if action not in Action.values or action not in tool.actions:
        raise invalid("action", ERR_ACTION_NOT_SUPPORTED.format(action=action))
    try:
        scope = validate_scope(scope or {})
    except InvalidScope as error:
        raise invalid("scope", str(error)) from None
    if expires_at is not None and expires_at <= timezone.now():
        raise invalid("expires_at", ERR_EXPIRES_PAST)
    if certified is None or action != Action.READ:
        require(Right.GRANT_READ if action == Action.READ else Right.GRANT_PRIVILEGED, identity, actor)
    needs_exception = False
    if action in (Action.WRITE, Action.ADMIN):
        tier = _tier_with(identity, StandingAccess(action, tool.production, tool.production_secrets))
        if tier_at_least(tier, "high"):
            needs_exception = True
            if not exception_reason.strip() or exception_until is None:
                raise invalid("exception_reason", ERR_NEEDS_EXCEPTION.format(action=action, tier=tier))
            _check_exception_until(exception_until)
    now = timezone.now()
    try:
        with transaction.atomic():
            entitlement = Entitlement.objects.create(
                identity=identity,
                tool=tool,
                action=action,
                scope=scope,
                mode=EntitlementMode.STANDING,
                source=source,
                granted_by=actors.person(actor),
                reason=reason,
                granted_at=now,
                expires_at=expires_at,
                external_id=external_id,
            )
    except IntegrityError:
        raise Conflict(ERR_DUPLICATE) from None
    exception = None
    if needs_exception:
        exception = RiskException.objects.create(
            entitlement=entitlement, accepted_by=actor, reason=exception_reason, valid_until=exception_until
        )
    identity_refresh(identity)
    audit_record(
        actor=actor,
        action="entitlement.grant",
        target=entitlement,
        request=request,
        object_label=f"{identity.name}: {tool.key} {action}",
        changes={
            "identity": str(identity.uuid),
            "tool": tool.key,
            "action": action,
            "scope": scope,
            "expires_at": expires_at,
            "source": source,
            "exception_until": exception.valid_until if exception else None,
            **({"certified": certified} if certified else {}),
        },
    )
    return entitlement


@transaction.atomic
def _entitlement_revoke(
    *,
    entitlement: Entitlement,
    actor,
    reason: str,
    request=None,
    audit_extra: dict | None = None,
    certified: str | None = None,
) -> Entitlement:
    """Private: callers revoke with identities.runtime's entitlement_revoke, which also revokes the tokens that
    relied on the entitlement.

    `certified` names the access-review decision that ordered the revocation (reviews' fulfilment): the
    reviewer's authority came from the campaign's reviewer rule, checked when they decided, so the rights
    check on the identity is not asked again (the reviewer may be a manager, or may have left since, and a
    missed review's outcome is applied by a job). The audit entry names the decision."""
    entitlement = Entitlement.objects.select_related("identity", "tool").get(pk=entitlement.pk)
    identity = Identity.objects.select_for_update().get(pk=entitlement.identity_id)
    if certified is None:
        require(Right.CHANGE, identity, actor)
    elif not certified.strip():
        raise invalid("certified", "Name the review decision that orders the revocation.")
    if not reason.strip():
        raise invalid("reason", "A reason is required.")
    now = timezone.now()
    if not Entitlement.objects.filter(pk=entitlement.pk, revoked_at__isnull=True).update(
        revoked_at=now, revoked_by=actors.person(actor), revoke_reason=reason
    ):
        raise Conflict(ERR_ALREADY_REVOKED)
    entitlement.refresh_from_db()
    credentials = _request_credential_revocation_for([entitlement], now, f"last entitlement revoked: {reason}")
    identity_refresh(identity)
    audit_record(
        actor=actor,
        action="entitlement.revoke",
        target=entitlement,
        request=request,
        object_label=f"{identity.name}: {entitlement.tool.key} {entitlement.action}",
        changes={
            "reason": reason,
            "credentials_revocation_requested": credentials,
            **({"certified": certified} if certified else {}),
            **(audit_extra or {}),
        },
    )
    return entitlement


@transaction.atomic
def _entitlement_replace(
    *,
    entitlement: Entitlement,
    actor,
    scope: dict | None = None,
    expires_at: datetime | None = None,
    reason: str,
    request=None,
    audit_extra: dict | None = None,
    certified: str | None = None,
    **grant_kwargs,
) -> Entitlement:
    """Change an entitlement the only way there is: revoke it and grant a new one, in one transaction.
    Private: callers use identities.runtime's entitlement_replace (the old one's tokens are revoked)."""
    old = Entitlement.objects.select_related("identity", "tool").get(pk=entitlement.pk)
    _entitlement_revoke(
        entitlement=old,
        actor=actor,
        reason=f"replaced: {reason}",
        request=request,
        audit_extra=audit_extra,
        certified=certified,
    )
    return entitlement_grant(
        identity=old.identity,
        tool=old.tool,
        action=old.action,
        actor=actor,
        scope=old.scope if scope is None else scope,
        reason=reason,
        expires_at=expires_at,
        source=old.source,
        external_id=old.external_id,
        request=request,
        certified=certified,
        **grant_kwargs,
    )


@transaction.atomic
def exception_accept(
    *, entitlement: Entitlement, actor, reason: str, valid_until: datetime, request=None
) -> RiskException:
    entitlement = Entitlement.objects.select_related("identity", "tool").get(pk=entitlement.pk)
    identity = Identity.objects.select_for_update().get(pk=entitlement.identity_id)
    require(Right.ACCEPT_RISK, identity, actor)
    if entitlement.mode != EntitlementMode.STANDING or entitlement.action not in (Action.WRITE, Action.ADMIN):
        raise invalid("entitlement", ERR_EXCEPTION_NOT_NEEDED)
    if entitlement.revoked_at is not None:
        raise Conflict(ERR_ALREADY_REVOKED)
    if not reason.strip():
        raise invalid("reason", "A reason is required.")
    exception = RiskException.objects.create(
        entitlement=entitlement, accepted_by=actor, reason=reason, valid_until=_check_exception_until(valid_until)
    )
    identity_refresh(identity)
    audit_record(
        actor=actor,
        action="exception.accept",
        target=exception,
        request=request,
        object_label=f"{identity.name}: {entitlement.tool.key} {entitlement.action}",
        changes={"reason": reason, "valid_until": valid_until},
    )
    return exception
