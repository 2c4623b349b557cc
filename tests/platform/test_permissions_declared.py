"""Every view in the URL configuration declares who may use it, so none is open by forgetting.

A declaration is one of: `roles_required(...)` / `public` on a function view (or `allowed_roles` on a
class-based view), or for DRF views `read_roles` / `write_roles` or permission classes of their own."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.views import APIView

from agentiam.permissions import ALL_ROLES, Role

# Namespaces whose views guard themselves and are never part of the product's role model.
SELF_GUARDED_NAMESPACES = {"admin"}  # Django's admin site (staff only; not mounted in production)


@dataclass(frozen=True)
class Endpoint:
    path: str
    name: str | None
    callback: object

    @property
    def view_class(self):
        return getattr(self.callback, "cls", None) or getattr(self.callback, "view_class", None)


def endpoints(patterns=None, prefix: str = "", namespace: str = ""):
    """Every URL pattern, with its full path (Django route syntax) and namespaced name."""
    patterns = get_resolver().url_patterns if patterns is None else patterns
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            if pattern.namespace in SELF_GUARDED_NAMESPACES:
                continue
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            yield from endpoints(pattern.url_patterns, prefix + str(pattern.pattern), inner)
        elif isinstance(pattern, URLPattern):
            name = namespace + pattern.name if pattern.name else None
            yield Endpoint("/" + prefix + str(pattern.pattern), name, pattern.callback)


def _roles(roles) -> str:
    roles = set(roles)
    if roles >= ALL_ROLES:
        return "every role"
    return ", ".join(role.value for role in Role if role in roles) or "nobody"


def declaration(endpoint: Endpoint) -> str | None:
    """Who may use the endpoint, as a short phrase (the form docs/permissions.md uses), or None when
    the view declares nothing."""
    callback, cls = endpoint.callback, endpoint.view_class
    if getattr(callback, "is_public", False) or getattr(cls, "is_public", False):
        return "public"
    if cls is not None and issubclass(cls, APIView):
        parts = []
        if hasattr(cls, "read_roles") or hasattr(cls, "write_roles"):
            parts.append(f"read: {_roles(getattr(cls, 'read_roles', ALL_ROLES))}")
            parts.append(f"write: {_roles(getattr(cls, 'write_roles', ()))}")
        own = next(
            (
                klass.__dict__["permission_classes"]
                for klass in cls.__mro__
                if "permission_classes" in klass.__dict__ and not klass.__module__.startswith("rest_framework")
            ),
            None,
        )
        if own is not None and not parts:
            parts.append("permission: " + ", ".join(permission.__name__ for permission in own))
        if parts:
            return "; ".join(parts)
        allowed = getattr(cls, "allowed_roles", None)
        return None if allowed is None else ("any signed-in person" if not allowed else _roles(allowed))
    allowed = getattr(callback, "allowed_roles", getattr(cls, "allowed_roles", "undeclared"))
    if allowed == "undeclared" or allowed is None:
        return None
    return "any signed-in person" if not allowed else _roles(allowed)


def test_the_url_configuration_is_not_empty():
    paths = {endpoint.path for endpoint in endpoints()}
    assert {"/people/", "/me/", "/api/v1/people/", "/api/v1/me/"} <= paths


def test_every_view_declares_its_roles():
    missing = [f"{e.path} ({e.name})" for e in endpoints() if declaration(e) is None]
    assert not missing, (
        "these views declare no roles (use roles_required(...) or public, or read_roles/write_roles or "
        "permission classes on DRF views):\n  " + "\n  ".join(missing)
    )


def test_a_view_without_a_declaration_is_caught():
    def forgotten(request):
        raise AssertionError("never called")

    assert declaration(Endpoint("/forgotten/", "forgotten", forgotten)) is None


def test_a_drf_view_relying_on_the_default_permissions_is_caught():
    class Lazy(APIView):
        def get(self, request):
            raise AssertionError("never called")

    assert declaration(Endpoint("/api/v1/lazy/", "lazy", Lazy.as_view())) is None


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/people/", "administrator, compliance_officer, security_analyst, auditor"),
        ("/people/<uuid:uuid>/roles/grant/", "administrator"),
        ("/me/", "any signed-in person"),
        ("/api/v1/people/", "read: administrator, compliance_officer, security_analyst, auditor; write: administrator"),
        ("/api/v1/me/", "permission: IsAuthenticated"),
    ],
)
def test_declarations_read_as_the_roles_they_allow(path, expected):
    found = {e.path: e for e in endpoints()}
    assert declaration(found[path]) == expected
