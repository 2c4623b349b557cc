"""Writes about persons: profiles, status, roles and personal API tokens. Each call is one transaction
whose last statement is its audit entry."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone

from agentiam.permissions import Role, forget_roles, has_role, roles_of
from audit.trail import audit_record
from identities.api_tokens import new_secret
from identities.models import (
    API_TOKEN_DEFAULT_DAYS,
    API_TOKEN_MAX_DAYS,
    ApiToken,
    PersonStatus,
    Profile,
    person_name,
)
from identities.services.refresh import identities_refresh_owned_by
from identities.sessions import end_sessions_of

__all__ = [
    "ALREADY_ACTIVE",
    "ALREADY_INACTIVE",
    "ALREADY_REVOKED",
    "EMPLOYEE_ID_TAKEN",
    "EXPIRY_RANGE",
    "MANAGER_CYCLE",
    "MANAGER_IS_SELF",
    "NAME_REQUIRED",
    "NOT_ADMINISTRATOR",
    "NOT_YOUR_OWN",
    "PERSON_FIELDS",
    "PROFILE_FIELDS",
    "REASON_REQUIRED",
    "ROLE_ALREADY_HELD",
    "ROLE_NOT_HELD",
    "ROLE_PERSON_INACTIVE",
    "ROLE_SELF_CHANGE",
    "ROLE_UNKNOWN",
    "SELF_DISABLE",
    "STATUS_NOT_INACTIVE",
    "USERNAME_TAKEN",
    "User",
    "api_token_create",
    "api_token_revoke",
    "person_create",
    "person_disable",
    "person_enable",
    "person_update",
    "role_grant",
    "role_revoke",
]

User = get_user_model()

NOT_ADMINISTRATOR = "Only administrators may change persons and their roles."
ROLE_SELF_CHANGE = "Nobody may grant or revoke their own roles."
ROLE_UNKNOWN = "There is no role called {role!r}."
ROLE_ALREADY_HELD = "{person} already has the role {role}."
ROLE_NOT_HELD = "{person} does not have the role {role}."
ROLE_PERSON_INACTIVE = "Roles can only be granted to active persons."
SELF_DISABLE = "You cannot disable yourself."
STATUS_NOT_INACTIVE = "Choose disabled or departed."
ALREADY_ACTIVE = "This person is already active."
ALREADY_INACTIVE = "This person is already {status}."
REASON_REQUIRED = "Say why (the reason goes into the audit trail)."
USERNAME_TAKEN = "A person with the username {username!r} already exists."
EMPLOYEE_ID_TAKEN = "Another person already has the employee id {employee_id!r}."
MANAGER_IS_SELF = "A person cannot be their own manager."
MANAGER_CYCLE = "That manager reports, directly or not, to this person."
NAME_REQUIRED = "Give the token a name."
EXPIRY_RANGE = f"A token lasts between 1 and {API_TOKEN_MAX_DAYS} days."
NOT_YOUR_OWN = "You can only manage your own API tokens."
ALREADY_REVOKED = "This token is already revoked."


def _require_administrator(actor) -> None:
    if not has_role(actor, Role.ADMINISTRATOR):
        raise PermissionDenied(NOT_ADMINISTRATOR)


def _clean_employee_id(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


def _check_manager(person, manager) -> None:
    if manager is None:
        return
    if manager.pk == person.pk:
        raise ValidationError({"manager": [MANAGER_IS_SELF]})
    # Walk up from the new manager; reaching `person` would close a loop. Depth-limited: org charts are shallow.
    seen, current = set(), manager
    while current is not None and current.pk not in seen and len(seen) < 100:
        if current.pk == person.pk:
            raise ValidationError({"manager": [MANAGER_CYCLE]})
        seen.add(current.pk)
        current = Profile.objects.filter(user_id=current.pk).select_related("manager").first()
        current = current.manager if current else None


@transaction.atomic
def person_create(
    *,
    actor,
    username: str,
    first_name: str = "",
    last_name: str = "",
    email: str = "",
    employee_id: str | None = None,
    job_title: str = "",
    manager=None,
    request: HttpRequest | None = None,
) -> Profile:
    """A new person without a password: they sign in through SSO or after an administrator sets one."""
    _require_administrator(actor)
    username = username.strip()
    if User.objects.filter(username__iexact=username).exists():
        raise ValidationError({"username": [USERNAME_TAKEN.format(username=username)]})
    employee_id = _clean_employee_id(employee_id)
    if employee_id and Profile.objects.filter(employee_id=employee_id).exists():
        raise ValidationError({"employee_id": [EMPLOYEE_ID_TAKEN.format(employee_id=employee_id)]})
    user = User.objects.create_user(
        username=username, email=email.strip(), first_name=first_name.strip(), last_name=last_name.strip()
    )
    profile = Profile.objects.get(user=user)
    profile.employee_id = employee_id
    profile.job_title = job_title.strip()
    profile.manager = manager
    profile.save()
    audit_record(
        actor=actor,
        action="person.create",
        target=profile,
        changes={
            "username": username,
            "email": user.email,
            "employee_id": employee_id,
            "manager": manager.get_username() if manager else None,
        },
        request=request,
    )
    return profile


def _shown(value):
    return value.get_username() if isinstance(value, User) else value


PERSON_FIELDS = ("first_name", "last_name", "email")
PROFILE_FIELDS = ("employee_id", "job_title", "manager")


@transaction.atomic
def person_update(*, actor, profile: Profile, request: HttpRequest | None = None, **values) -> Profile:
    """Change any of first_name, last_name, email, employee_id, job_title, manager; audit what changed."""
    _require_administrator(actor)
    unknown = set(values) - set(PERSON_FIELDS) - set(PROFILE_FIELDS)
    if unknown:
        raise TypeError(f"person_update does not change {sorted(unknown)}")
    profile = Profile.objects.select_for_update(of=("self",)).select_related("user", "manager").get(pk=profile.pk)
    user = profile.user
    if "employee_id" in values:
        values["employee_id"] = _clean_employee_id(values["employee_id"])
        taken = Profile.objects.filter(employee_id=values["employee_id"]).exclude(pk=profile.pk)
        if values["employee_id"] and taken.exists():
            raise ValidationError({"employee_id": [EMPLOYEE_ID_TAKEN.format(employee_id=values["employee_id"])]})
    if "manager" in values:
        _check_manager(user, values["manager"])
    changes = {}
    for name, value in values.items():
        holder = user if name in PERSON_FIELDS else profile
        if isinstance(value, str):
            value = value.strip()
        old = getattr(holder, name)
        if old != value:
            changes[name] = {"from": _shown(old), "to": _shown(value)}
            setattr(holder, name, value)
    if not changes:
        return profile
    user.save()
    profile.save()
    audit_record(actor=actor, action="person.update", target=profile, changes=changes, request=request)
    return profile


@transaction.atomic
def person_disable(
    *, actor, profile: Profile, status: str = PersonStatus.DISABLED, reason: str, request: HttpRequest | None = None
) -> Profile:
    """Disable a person (or record that they departed): they cannot sign in, every session of theirs is
    deleted now, and every API token of theirs is revoked now."""
    _require_administrator(actor)
    if status not in (PersonStatus.DISABLED, PersonStatus.DEPARTED):
        raise ValidationError({"status": [STATUS_NOT_INACTIVE]})
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": [REASON_REQUIRED]})
    profile = Profile.objects.select_for_update().select_related("user").get(pk=profile.pk)
    if profile.user_id == actor.pk:
        raise PermissionDenied(SELF_DISABLE)
    if profile.status == status:
        raise ValidationError({"status": [ALREADY_INACTIVE.format(status=profile.get_status_display().lower())]})
    now = timezone.now()
    previous = profile.status
    profile.status, profile.status_reason, profile.status_changed_at = status, reason, now
    profile.save(update_fields=["status", "status_reason", "status_changed_at", "updated_at"])
    User.objects.filter(pk=profile.user_id).update(is_active=False)
    sessions = end_sessions_of(profile.user_id)
    tokens = ApiToken.objects.usable().filter(user_id=profile.user_id)
    revoked = list(tokens.values_list("prefix", flat=True))
    tokens.update(revoked_at=now, revoked_by=actor, revoked_reason=f"person {status}")
    orphaned = identities_refresh_owned_by(profile.user)
    audit_record(
        actor=actor,
        action="person.disable",
        target=profile,
        changes={
            "status": {"from": previous, "to": status},
            "reason": reason,
            "sessions_ended": sessions,
            "tokens_revoked": revoked,
            "identities_rechecked": orphaned,
        },
        request=request,
    )
    return profile


@transaction.atomic
def person_enable(*, actor, profile: Profile, reason: str, request: HttpRequest | None = None) -> Profile:
    """Let a disabled or departed person sign in again. Their revoked tokens stay revoked."""
    _require_administrator(actor)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": [REASON_REQUIRED]})
    profile = Profile.objects.select_for_update().select_related("user").get(pk=profile.pk)
    if profile.status == PersonStatus.ACTIVE:
        raise ValidationError({"status": [ALREADY_ACTIVE]})
    previous = profile.status
    profile.status, profile.status_reason, profile.status_changed_at = PersonStatus.ACTIVE, reason, timezone.now()
    profile.save(update_fields=["status", "status_reason", "status_changed_at", "updated_at"])
    User.objects.filter(pk=profile.user_id).update(is_active=True)
    identities_refresh_owned_by(profile.user)
    audit_record(
        actor=actor,
        action="person.enable",
        target=profile,
        changes={"status": {"from": previous, "to": PersonStatus.ACTIVE}, "reason": reason},
        request=request,
    )
    return profile


def _role_change_checks(actor, person, role: str, *, certified: str | None = None) -> tuple[Role, Profile]:
    if certified is None:
        _require_administrator(actor)
    if person.pk == getattr(actor, "pk", None):
        raise PermissionDenied(ROLE_SELF_CHANGE)
    try:
        role = Role(role)
    except ValueError:
        raise ValidationError({"role": [ROLE_UNKNOWN.format(role=role)]}) from None
    # Lock the person's profile so two administrators changing the same person's roles queue up.
    profile = Profile.objects.select_for_update().select_related("user").get(user_id=person.pk)
    return role, profile


@transaction.atomic
def role_grant(*, actor, person, role: str, request: HttpRequest | None = None) -> Role:
    role, profile = _role_change_checks(actor, person, role)
    if profile.status != PersonStatus.ACTIVE or not profile.user.is_active:
        raise ValidationError({"role": [ROLE_PERSON_INACTIVE]})
    forget_roles(profile.user)
    if role in roles_of(profile.user):
        raise ValidationError({"role": [ROLE_ALREADY_HELD.format(person=profile, role=role.label)]})
    group, _ = Group.objects.get_or_create(name=role.value)
    profile.user.groups.add(group)
    forget_roles(person)
    audit_record(actor=actor, action="role.grant", target=profile, changes={"role": role.value}, request=request)
    return role


@transaction.atomic
def role_revoke(*, actor, person, role: str, request: HttpRequest | None = None, certified: str | None = None) -> Role:
    """Take a role away. `certified` names the access-review decision that ordered it (a campaign over
    AgentIAM's own privileged roles): the reviewer's authority was the campaign's, so it need not be an
    administrator's; nobody still takes away their own role."""
    role, profile = _role_change_checks(actor, person, role, certified=certified)
    # Read the groups directly: a disabled person has no effective roles, but may still hold some.
    if not profile.user.groups.filter(name=role.value).exists():
        raise ValidationError({"role": [ROLE_NOT_HELD.format(person=profile, role=role.label)]})
    profile.user.groups.remove(*Group.objects.filter(name=role.value))
    forget_roles(person)
    changes = {"role": role.value, **({"certified": certified} if certified else {})}
    audit_record(actor=actor, action="role.revoke", target=profile, changes=changes, request=request)
    return role


@transaction.atomic
def api_token_create(
    *, actor, name: str, expires_in_days: int = API_TOKEN_DEFAULT_DAYS, request: HttpRequest | None = None
) -> tuple[ApiToken, str]:
    """A new token for `actor` themselves. Returns the row and the secret, which is never shown again."""
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": [NAME_REQUIRED]})
    if not isinstance(expires_in_days, int) or not 1 <= expires_in_days <= API_TOKEN_MAX_DAYS:
        raise ValidationError({"expires_in_days": [EXPIRY_RANGE]})
    now = timezone.now()
    for attempt in range(2):
        secret = new_secret()
        try:
            with transaction.atomic():
                token = ApiToken.objects.create(
                    user=actor,
                    name=name[:100],
                    prefix=secret.prefix,
                    digest=secret.digest,
                    expires_at=now + timedelta(days=expires_in_days),
                )
            break
        except IntegrityError:  # a 48-bit prefix collision: vanishingly rare, so one retry is enough
            if attempt:
                raise
    audit_record(
        actor=actor,
        action="api_token.create",
        target=token,
        object_label=f"API token {token.prefix} of {person_name(actor)}",
        changes={"name": token.name, "prefix": token.prefix, "expires_at": token.expires_at.isoformat()},
        request=request,
    )
    return token, secret.token


@transaction.atomic
def api_token_revoke(*, actor, token: ApiToken, reason: str = "", request: HttpRequest | None = None) -> ApiToken:
    """Revoke one of the actor's own tokens (administrators revoke others' by disabling the person)."""
    token = ApiToken.objects.select_for_update().get(pk=token.pk)
    if token.user_id != actor.pk:
        raise PermissionDenied(NOT_YOUR_OWN)
    if token.revoked_at is not None:
        raise ValidationError({"token": [ALREADY_REVOKED]})
    token.revoked_at, token.revoked_by, token.revoked_reason = timezone.now(), actor, reason.strip()[:200]
    token.save(update_fields=["revoked_at", "revoked_by", "revoked_reason"])
    audit_record(
        actor=actor,
        action="api_token.revoke",
        target=token,
        object_label=f"API token {token.prefix} of {person_name(actor)}",
        changes={"name": token.name, "prefix": token.prefix, "reason": token.revoked_reason},
        request=request,
    )
    return token
