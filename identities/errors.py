"""How registry services refuse: a field error (400), a permission refusal (403) or a state conflict (409).

Services raise Django's ValidationError({field: [message]}) for bad input and PermissionDenied for "not
you" (roles, ownership, separation of duties), like the people services; Conflict is for a change the
object's current state forbids (already revoked, already suspended)."""

from django.core.exceptions import ValidationError


class Conflict(Exception):
    """The change is refused because of the object's current state."""


def invalid(field: str, message: str) -> ValidationError:
    return ValidationError({field: [message]})
