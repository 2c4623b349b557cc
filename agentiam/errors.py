"""How services refuse, for every app: a field error (400), a permission refusal (403), a missing object
(404) or a state conflict (409). `agentiam.adapters` turns each into the answer a page or the API gives.

Services raise Django's ValidationError({field: [message]}) for bad input (`invalid()` builds one),
PermissionDenied for "not you" (roles, ownership, separation of duties), Http404 for an object the actor
may not know about, and Conflict for a change the object's current state forbids (already revoked, already
suspended)."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404

__all__ = ["Conflict", "Http404", "PermissionDenied", "ValidationError", "invalid"]


class Conflict(Exception):
    """The change is refused because of the object's current state."""


def invalid(field: str, message: str) -> ValidationError:
    return ValidationError({field: [message]})
