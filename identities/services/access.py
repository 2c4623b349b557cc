"""Registry writes about access: tools, entitlements, exceptions, credentials, tasks and grants."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.utils import timezone

from agentiam.permissions import Role, roles_of
from audit.trail import audit_record
from identities.errors import Conflict, invalid
from identities.models import (
    Action,
    Credential,
    Entitlement,
    EntitlementMode,
    EntitlementSource,
    Grant,
    Identifier,
    IdentifierKind,
    Identity,
    IdentityStatus,
    RevocationStatus,
    RiskException,
    System,
    Task,
    Tool,
    Workflow,
)
from identities.risk import RiskInputs, StandingAccess, assess_risk, tier_at_least
from identities.scope import InvalidScope, validate_scope
from identities.services.identity import (
    ERR_NOT_OWNER,
    _standing_access,
    identity_refresh,
    is_current_owner,
    require_can_change,
)
from identities.spiffe import InvalidSpiffeId, normalise_spiffe_id

ERR_ACTION_NOT_SUPPORTED = "This tool does not support the action {action}."
ERR_READ_ONLY_OWNER = "Owners may grant standing read access only; write, admin and execute need an administrator."
ERR_PRIVILEGED_NEEDS_ADMIN = (
    "Standing write, admin or execute access needs an administrator who does not own this identity."
)
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
ERR_TASK_CLOSED = "This task is already closed."
ERR_GRANT_ENDED = "This grant has already ended."
MAX_EXCEPTION_DAYS = 365


def _require_registry_admin(actor) -> None:
    if Role.ADMINISTRATOR not in roles_of(actor):
        raise PermissionDenied("Only an administrator may change systems and tools.")


# --- systems and tools ------------------------------------------------------------------------------------


@transaction.atomic
def system_create(*, actor, request=None, **fields: Any) -> System:
    _require_registry_admin(actor)
    system = System(**fields)
    system.full_clean()
    system.save()
    audit_record(actor=actor, action="system.create", target=system, request=request, changes=fields)
    return system


@transaction.atomic
def tool_create(*, actor, system: System, request=None, **fields: Any) -> Tool:
    _require_registry_admin(actor)
    tool = Tool(system=system, **fields)
    tool.full_clean()
    tool.save()
    audit_record(
        actor=actor,
        action="tool.create",
        target=tool,
        request=request,
        changes={"system": system.name, **{k: v for k, v in fields.items()}},
    )
    return tool


@transaction.atomic
def tool_update(*, tool: Tool, actor, request=None, **fields: Any) -> Tool:
    """Changing a tool's flags changes the risk of every identity with standing access to it."""
    _require_registry_admin(actor)
    tool = Tool.objects.select_for_update().get(pk=tool.pk)
    before = {k: getattr(tool, k) for k in fields}
    for name, value in fields.items():
        setattr(tool, name, value)
    tool.full_clean()
    tool.save()
    if {"production", "production_secrets"} & set(fields):
        holder_ids = Entitlement.objects.filter(tool=tool, revoked_at__isnull=True).values("identity_id")
        for identity in Identity.objects.filter(pk__in=holder_ids).order_by("pk").select_for_update():
            identity_refresh(identity)
    audit_record(
        actor=actor,
        action="tool.update",
        target=tool,
        request=request,
        changes={k: [before[k], getattr(tool, k)] for k in fields if before[k] != getattr(tool, k)},
    )
    return tool


# --- entitlements -----------------------------------------------------------------------------------------


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
) -> Entitlement:
    """Grant standing access, following "who grants what": owners grant read on identities they own;
    write/admin/execute needs an administrator who does not own the identity, and on a high or critical
    identity (by the tier it would have after this grant) an exception accepted in the same step."""
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
    roles = roles_of(actor)
    owner = is_current_owner(identity, actor)
    if action == Action.READ:
        if not ((owner and Role.IDENTITY_OWNER in roles) or (Role.ADMINISTRATOR in roles and not owner)):
            raise PermissionDenied(ERR_NOT_OWNER)
    elif Role.ADMINISTRATOR not in roles:
        raise PermissionDenied(ERR_READ_ONLY_OWNER if owner else ERR_PRIVILEGED_NEEDS_ADMIN)
    elif owner:
        raise PermissionDenied(ERR_PRIVILEGED_NEEDS_ADMIN)
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
                granted_by=actor,
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
        },
    )
    return entitlement


def _request_credential_revocation_for(entitlements: list[Entitlement], now, reason: str) -> int:
    """Secrets move with entitlements: a credential whose last active entitlement goes is revoked too."""
    ids = [e.pk for e in entitlements]
    candidates = (
        Credential.objects.filter(entitlements__in=ids)
        .exclude(revocation_status__in=[RevocationStatus.REQUESTED, RevocationStatus.CONFIRMED])
        .distinct()
    )
    count = 0
    for credential in candidates:
        if not credential.entitlements.filter(revoked_at__isnull=True).exists():
            Credential.objects.filter(pk=credential.pk).update(
                revocation_status=RevocationStatus.REQUESTED, revocation_requested_at=now, revocation_reason=reason
            )
            count += 1
    return count


@transaction.atomic
def entitlement_revoke(*, entitlement: Entitlement, actor, reason: str, request=None) -> Entitlement:
    entitlement = Entitlement.objects.select_related("identity", "tool").get(pk=entitlement.pk)
    identity = Identity.objects.select_for_update().get(pk=entitlement.identity_id)
    require_can_change(identity, actor)
    if not reason.strip():
        raise invalid("reason", "A reason is required.")
    now = timezone.now()
    if not Entitlement.objects.filter(pk=entitlement.pk, revoked_at__isnull=True).update(
        revoked_at=now, revoked_by=actor, revoke_reason=reason
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
        changes={"reason": reason, "credentials_revocation_requested": credentials},
    )
    return entitlement


@transaction.atomic
def entitlement_replace(
    *,
    entitlement: Entitlement,
    actor,
    scope: dict | None = None,
    expires_at: datetime | None = None,
    reason: str,
    request=None,
    **grant_kwargs,
) -> Entitlement:
    """Change an entitlement the only way there is: revoke it and grant a new one, in one transaction."""
    old = Entitlement.objects.select_related("identity", "tool").get(pk=entitlement.pk)
    entitlement_revoke(entitlement=old, actor=actor, reason=f"replaced: {reason}", request=request)
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
        **grant_kwargs,
    )


@transaction.atomic
def exception_accept(
    *, entitlement: Entitlement, actor, reason: str, valid_until: datetime, request=None
) -> RiskException:
    entitlement = Entitlement.objects.select_related("identity", "tool").get(pk=entitlement.pk)
    identity = Identity.objects.select_for_update().get(pk=entitlement.identity_id)
    if Role.ADMINISTRATOR not in roles_of(actor) or is_current_owner(identity, actor):
        raise PermissionDenied("Only an administrator who does not own this identity may accept its risk.")
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


# --- credentials ------------------------------------------------------------------------------------------

ERR_FINGERPRINT = "fingerprint must be a hex SHA-256 digest (64 characters) or another hex digest of 32-128 characters."


@transaction.atomic
def credential_register(
    *, actor, holders: list[Identity], entitlements: list[Entitlement] | None = None, request=None, **fields: Any
) -> Credential:
    """Record a credential by fingerprint; the secret itself is never accepted or stored."""
    fingerprint = str(fields.get("fingerprint", "")).lower()
    if not (32 <= len(fingerprint) <= 128) or any(c not in "0123456789abcdef" for c in fingerprint):
        raise invalid("fingerprint", ERR_FINGERPRINT)
    fields["fingerprint"] = fingerprint
    for identity in holders:
        require_can_change(identity, actor)
    credential = Credential(**fields)
    credential.full_clean()
    credential.save()
    credential.holders.set(holders)
    if entitlements:
        credential.entitlements.set(entitlements)
    for identity in Identity.objects.filter(pk__in=[h.pk for h in holders]).select_for_update().order_by("pk"):
        identity_refresh(identity)
    audit_record(
        actor=actor,
        action="credential.register",
        target=credential,
        request=request,
        changes={"kind": credential.kind, "holders": [str(h.uuid) for h in holders], "fingerprint": fingerprint[:16]},
    )
    return credential


@transaction.atomic
def credential_request_revocation(*, credential: Credential, actor, reason: str, request=None) -> Credential:
    credential = Credential.objects.select_for_update().get(pk=credential.pk)
    for identity in credential.holders.all():
        require_can_change(identity, actor)
    if credential.revocation_status in (RevocationStatus.REQUESTED, RevocationStatus.CONFIRMED):
        raise Conflict("Revocation of this credential is already requested or confirmed.")
    credential.revocation_status = RevocationStatus.REQUESTED
    credential.revocation_requested_at, credential.revocation_reason = timezone.now(), reason
    credential.save(update_fields=["revocation_status", "revocation_requested_at", "revocation_reason"])
    audit_record(
        actor=actor,
        action="credential.revocation_request",
        target=credential,
        request=request,
        changes={"reason": reason},
    )
    return credential


@transaction.atomic
def credential_resolve_revocation(
    *, credential: Credential, actor, confirmed: bool, note: str = "", request=None
) -> Credential:
    """Record what the system holding the secret said: revoked (confirmed) or not (failed)."""
    credential = Credential.objects.select_for_update().get(pk=credential.pk)
    if credential.revocation_status != RevocationStatus.REQUESTED:
        raise Conflict("Only a requested revocation can be confirmed or marked failed.")
    for identity in credential.holders.all():
        require_can_change(identity, actor)
    credential.revocation_status = RevocationStatus.CONFIRMED if confirmed else RevocationStatus.FAILED
    credential.revocation_resolved_at, credential.revocation_note = timezone.now(), note
    credential.save(update_fields=["revocation_status", "revocation_resolved_at", "revocation_note"])
    for identity in credential.holders.select_for_update().order_by("pk"):
        identity_refresh(identity)
    audit_record(
        actor=actor,
        action="credential.revocation_" + ("confirmed" if confirmed else "failed"),
        target=credential,
        request=request,
        changes={"note": note},
    )
    return credential


# --- identifiers and workflows -----------------------------------------------------------------------------


def normalise_identifier(kind: str, value: str) -> str:
    value = (value or "").strip()
    if not value:
        raise invalid("value", "value is required.")
    if kind == IdentifierKind.SPIFFE:
        try:
            return normalise_spiffe_id(value)
        except InvalidSpiffeId as error:
            raise invalid("value", f"Invalid SPIFFE ID: {error}.") from None
    if kind == IdentifierKind.OIDC_SUBJECT and "|" not in value:
        raise invalid("value", "An OIDC subject is written issuer|subject.")
    return value


@transaction.atomic
def identifier_add(
    *,
    identity: Identity,
    actor,
    kind: str,
    value: str,
    workflow: Workflow | None = None,
    external_id: str | None = None,
    request=None,
) -> Identifier:
    identity = Identity.objects.select_for_update().get(pk=identity.pk)
    require_can_change(identity, actor)
    value = normalise_identifier(kind, value)
    if Identifier.objects.filter(value=value).exists():
        raise invalid("value", "This identifier already belongs to an identity.")
    identifier = Identifier.objects.create(
        identity=identity, kind=kind, value=value, workflow=workflow, external_id=external_id
    )
    audit_record(
        actor=actor, action="identifier.add", target=identity, request=request, changes={"kind": kind, "value": value}
    )
    return identifier


@transaction.atomic
def identifier_remove(*, identifier: Identifier, actor, request=None) -> None:
    identity = Identity.objects.select_for_update().get(pk=identifier.identity_id)
    require_can_change(identity, actor)
    value = identifier.value
    identifier.delete()
    audit_record(actor=actor, action="identifier.remove", target=identity, request=request, changes={"value": value})


@transaction.atomic
def workflow_attach(*, identity: Identity, workflow: Workflow, actor, request=None) -> None:
    identity = Identity.objects.select_for_update().get(pk=identity.pk)
    require_can_change(identity, actor)
    workflow.identities.add(identity)
    identity_refresh(identity)
    audit_record(
        actor=actor, action="workflow.attach", target=identity, request=request, changes={"workflow": workflow.name}
    )


# --- tasks and grants ---------------------------------------------------------------------------------------


@transaction.atomic
def task_open(*, identity: Identity, name: str, workflow: Workflow | None = None, actor=None) -> Task:
    """The task a name refers to for this identity, created on first use (the runtime's token exchange)."""
    task, created = Task.objects.get_or_create(identity=identity, name=name, defaults={"workflow": workflow})
    if created:
        audit_record(
            actor=actor,
            actor_kind="agent" if actor is None else None,
            action="task.open",
            target=task,
            object_label=f"{identity.name}: {name}",
            changes={"identity": str(identity.uuid)},
        )
    return task


def _end_grants(grants, now, actor, reason) -> tuple[int, int]:
    grant_ids = list(grants.values_list("pk", flat=True))
    ended = Grant.objects.filter(pk__in=grant_ids, ended_at__isnull=True).update(
        ended_at=now, ended_by=actor, end_reason=reason
    )
    revoked = Entitlement.objects.filter(grant_id__in=grant_ids, revoked_at__isnull=True).update(
        revoked_at=now, revoked_by=actor, revoke_reason=reason
    )
    return ended, revoked


@transaction.atomic
def task_complete(*, task: Task, actor=None, reason: str = "completed", request=None) -> dict[str, int]:
    """Close a task and end every grant and JIT entitlement bound to it, in one transaction."""
    task = Task.objects.select_for_update().get(pk=task.pk)
    if task.state != Task.State.OPEN:
        raise Conflict(ERR_TASK_CLOSED)
    now = timezone.now()
    task.state, task.completed_at, task.completed_by, task.end_reason = Task.State.COMPLETED, now, actor, reason
    task.save(update_fields=["state", "completed_at", "completed_by", "end_reason"])
    ended, revoked = _end_grants(Grant.objects.filter(task=task), now, actor, f"task completed: {reason}")
    audit_record(
        actor=actor,
        action="task.complete",
        target=task,
        request=request,
        object_label=f"{task.identity.name}: {task.name}",
        changes={"grants_ended": ended, "entitlements_revoked": revoked},
    )
    return {"grants": ended, "entitlements": revoked}


@transaction.atomic
def grant_create(
    *,
    identity: Identity,
    task: Task | None,
    entries: list[tuple[Tool, str, dict]],
    ends_at: datetime,
    actor,
    reason: str = "",
    request=None,
) -> Grant:
    """A time-bound set of JIT entitlements (created from an approved elevation request)."""
    identity = Identity.objects.select_for_update().get(pk=identity.pk)
    if identity.status != IdentityStatus.ACTIVE:
        raise Conflict(ERR_IDENTITY_NOT_ACTIVE)
    now = timezone.now()
    if ends_at <= now:
        raise invalid("ends_at", ERR_EXPIRES_PAST)
    if task is not None and task.state != Task.State.OPEN:
        raise Conflict(ERR_TASK_CLOSED)
    grant = Grant.objects.create(
        identity=identity, task=task, starts_at=now, ends_at=ends_at, created_by=actor, reason=reason
    )
    for tool, action, scope in entries:
        if action not in tool.actions:
            raise invalid("action", ERR_ACTION_NOT_SUPPORTED.format(action=action))
        Entitlement.objects.create(
            identity=identity,
            tool=tool,
            action=action,
            scope=validate_scope(scope),
            mode=EntitlementMode.JIT,
            source=EntitlementSource.GRANT,
            grant=grant,
            granted_by=actor,
            reason=reason,
            granted_at=now,
            expires_at=ends_at,
        )
    audit_record(
        actor=actor,
        action="grant.create",
        target=grant,
        request=request,
        object_label=f"{identity.name}: {len(entries)} JIT entitlement(s)",
        changes={
            "task": str(task.uuid) if task else None,
            "ends_at": ends_at,
            "entries": [[t.key, a, s] for t, a, s in entries],
        },
    )
    return grant


@transaction.atomic
def grant_end(*, grant: Grant, actor, reason: str, request=None) -> int:
    grant = Grant.objects.select_for_update().get(pk=grant.pk)
    if grant.ended_at is not None:
        raise Conflict(ERR_GRANT_ENDED)
    _, revoked = _end_grants(Grant.objects.filter(pk=grant.pk), timezone.now(), actor, reason)
    audit_record(
        actor=actor,
        action="grant.end",
        target=grant,
        request=request,
        changes={"reason": reason, "entitlements_revoked": revoked},
    )
    return revoked
