"""Pieces every registry view uses: finding an identity the actor may see, what they may do to it,
running a service into a form, and answering plain and htmx requests alike."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse

from agentiam.permissions import ALL_ROLES, Role, roles_of
from identities.errors import Conflict
from identities.models import IdentityStatus, OwnershipRole
from identities.models.registry import Identity, current_ownerships

# Everyone with a role reads the registry: owners and managers see only their part of it (restrict()).
READERS = ALL_ROLES
CHANGERS = frozenset({Role.ADMINISTRATOR, Role.IDENTITY_OWNER})
SUSPENDERS = frozenset({Role.ADMINISTRATOR, Role.IDENTITY_OWNER, Role.SECURITY_ANALYST})
RESUMERS = frozenset({Role.ADMINISTRATOR, Role.SECURITY_ANALYST})


def identity_or_404(request, uuid, action: str = "view") -> Identity:
    queryset = Identity.objects.restrict(request.user, action).select_related(
        "parent", "person", "tier_override_by", "created_by"
    )
    return get_object_or_404(queryset, uuid=uuid)


@dataclass(frozen=True)
class Abilities:
    """What the signed-in person may do to one identity — the services' rules, read ahead so pages offer
    only what will be accepted (the services still decide)."""

    owner_roles: frozenset[str]
    roles: frozenset[Role]
    active: bool

    @property
    def is_owner(self) -> bool:
        return bool(self.owner_roles)

    @property
    def is_accountable(self) -> bool:
        return OwnershipRole.ACCOUNTABLE in self.owner_roles

    @property
    def admin_not_owner(self) -> bool:
        return Role.ADMINISTRATOR in self.roles and not self.is_owner

    @property
    def can_change(self) -> bool:
        return (self.is_owner and Role.IDENTITY_OWNER in self.roles) or self.admin_not_owner

    @property
    def can_add_aup(self) -> bool:
        return self.is_accountable

    @property
    def can_grant(self) -> bool:
        return self.can_change and self.active

    @property
    def can_grant_privileged(self) -> bool:
        return self.admin_not_owner and self.active

    @property
    def can_accept_risk(self) -> bool:
        return self.admin_not_owner

    @property
    def can_override(self) -> bool:
        return self.admin_not_owner

    @property
    def can_suspend(self) -> bool:
        allowed = bool(self.roles & {Role.ADMINISTRATOR, Role.SECURITY_ANALYST}) or (
            self.is_owner and Role.IDENTITY_OWNER in self.roles
        )
        return allowed and self.active

    @property
    def can_resume(self) -> bool:
        return bool(self.roles & RESUMERS) and not self.is_owner and not self.active

    @property
    def grantable_actions(self) -> list[str]:
        if self.admin_not_owner:
            return ["read", "write", "admin", "execute"]
        return ["read"] if self.can_change else []


def abilities(request, identity: Identity) -> Abilities:
    owner_roles = current_ownerships().filter(identity=identity, person=request.user).values_list("role", flat=True)
    return Abilities(
        owner_roles=frozenset(owner_roles),
        roles=roles_of(request.user),
        active=identity.status == IdentityStatus.ACTIVE,
    )


def require(allowed: bool, message: str) -> None:
    if not allowed:
        raise PermissionDenied(message)


def apply_errors(form, error: ValidationError, aliases: dict[str, str] | None = None) -> None:
    """Put a service's field errors beside the form's fields (unknown fields become form-wide errors)."""
    aliases = aliases or {}
    if hasattr(error, "error_dict"):
        for field, errors in error.error_dict.items():
            name = aliases.get(field, field)
            form.add_error(name if name in form.fields else None, errors)
    else:
        form.add_error(None, error)


def call_service(form, service, *, aliases: dict[str, str] | None = None, **kwargs):
    """Run one service for a valid form: (True, result, 200), or (False, None, status) with the refusal
    written into the form — 400 for bad input, 403 for "not you", 409 for the object's state."""
    try:
        result = service(**kwargs)
    except ValidationError as error:
        apply_errors(form, error, aliases)
        return False, None, 400
    except PermissionDenied as error:
        form.add_error(None, str(error) or "You may not make this change.")
        return False, None, 403
    except Conflict as error:
        form.add_error(None, str(error))
        return False, None, 409
    return True, result, 200


def form_status(request, status: int | None = None) -> int:
    """A form page shown again after a POST is showing errors: say so with a 4xx."""
    if request.method != "POST":
        return 200
    return status or 400


def done(request, url: str) -> HttpResponse:
    """After a change: a redirect, or for htmx a full navigation (the whole page may have changed)."""
    if request.htmx:
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return redirect(url)


def identity_url(identity: Identity, anchor: str = "") -> str:
    return reverse("identity", args=[identity.uuid]) + (f"#{anchor}" if anchor else "")
