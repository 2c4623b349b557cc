"""Roles, and how views and endpoints declare who may use them.

A role is a Django group with one of the names below. Rights on a particular identity come from its
ownership record, not from a role: the "identity owner" role only lets a person be named an owner.
Every view declares its roles with `roles_required(...)` (or `public`), so a test can walk the URL
configuration and find any view that forgot to.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from rest_framework.permissions import SAFE_METHODS, BasePermission


class Role(StrEnum):
    ADMINISTRATOR = "administrator"
    IDENTITY_OWNER = "identity_owner"
    MANAGER = "manager"
    COMPLIANCE_OFFICER = "compliance_officer"
    SECURITY_ANALYST = "security_analyst"
    AUDITOR = "auditor"

    @property
    def label(self) -> str:
        return ROLE_LABELS[self]


ROLE_LABELS = {
    Role.ADMINISTRATOR: "Administrator",
    Role.IDENTITY_OWNER: "Identity owner",
    Role.MANAGER: "Manager",
    Role.COMPLIANCE_OFFICER: "Compliance officer",
    Role.SECURITY_ANALYST: "Security analyst",
    Role.AUDITOR: "Auditor",
}
ALL_ROLES = frozenset(Role)
ROLE_CHOICES = [(role.value, ROLE_LABELS[role]) for role in Role]  # choice lists of forms and filters
ROLE_VALUES = tuple(role.value for role in Role)  # the choice list of serializers (one OpenAPI enum)
# Roles that see everything, read-only at least.
SEE_EVERYTHING = frozenset({Role.ADMINISTRATOR, Role.COMPLIANCE_OFFICER, Role.SECURITY_ANALYST, Role.AUDITOR})
# Roles whose sign-in always needs a second factor (no setting turns this off).
SECOND_FACTOR_REQUIRED = frozenset({Role.ADMINISTRATOR, Role.MANAGER, Role.SECURITY_ANALYST})

_CACHE_ATTR = "_agentiam_roles"


def roles_of(user) -> frozenset[Role]:
    """The roles of a signed-in, active person; cached on the user object for the request."""
    if user is None or not user.is_authenticated or not user.is_active:
        return frozenset()
    cached = getattr(user, _CACHE_ATTR, None)
    if cached is None:
        names = set(user.groups.values_list("name", flat=True))
        cached = frozenset(Role(name) for name in names if name in Role._value2member_map_)
        setattr(user, _CACHE_ATTR, cached)
    return cached


def forget_roles(user) -> None:
    if hasattr(user, _CACHE_ATTR):
        delattr(user, _CACHE_ATTR)


def has_role(user, *roles: Role) -> bool:
    return bool(roles_of(user) & set(roles))


def roles_required(*roles: Role | Iterable[Role]):
    """Function-view decorator: anonymous → the login page; signed in without one of `roles` → 403.

    Pass no role to allow any signed-in person (their own profile, for instance)."""
    allowed: set[Role] = set()
    for role in roles:
        allowed |= {role} if isinstance(role, Role) else set(role)

    def decorator(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if allowed and not (roles_of(request.user) & allowed):
                raise PermissionDenied("Your role does not give access to this page.")
            return view(request, *args, **kwargs)

        wrapper.allowed_roles = frozenset(allowed)
        return wrapper

    return decorator


def public(view):
    """Mark a view as deliberately open to anonymous visitors (login, health, schema)."""
    view.allowed_roles = None
    view.is_public = True
    return view


class RolePermission(BasePermission):
    """DRF permission: the view's `read_roles` may use safe methods, its `write_roles` the others.

    Object-level rights (ownership) are enforced by the view's queryset, so a forbidden object is a 404."""

    message = "Your role does not allow this."

    def has_permission(self, request, view) -> bool:
        if not request.user or not request.user.is_authenticated:
            return False
        roles = roles_of(request.user)
        wanted = (
            getattr(view, "read_roles", ALL_ROLES)
            if request.method in SAFE_METHODS
            else getattr(view, "write_roles", frozenset())
        )
        return bool(roles & set(wanted))
