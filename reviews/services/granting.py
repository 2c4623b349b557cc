"""The one place a request turns into access: a grant of JIT entitlements bound to the request's task, made
through identities' grant_create, its clock starting now (at approval, not at request)."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from identities.models import Grant
from identities.services import grant_create
from reviews.models import ElevationRequest, RequestState
from reviews.services.facts import tools_for

__all__ = ["grant_for"]


def grant_for(
    found: ElevationRequest, *, actor, scopes: list[str], scope: dict, duration_seconds: int, request=None
) -> Grant:
    """Grant what was approved (within what was asked: the caller checked) and close the request."""
    now = timezone.now()
    grant = grant_create(
        identity=found.identity,
        task=found.task,
        entries=[(tool, action, scope) for tool, action in tools_for(scopes)],
        ends_at=now + timedelta(seconds=duration_seconds),
        actor=actor,
        reason=f"elevation request {found.uuid}: {found.justification}"[:2000],
        request=request,
    )
    found.state, found.decided_at, found.grant = RequestState.APPROVED, now, grant
    found.granted_scopes, found.granted_scope, found.granted_duration_seconds = scopes, scope, duration_seconds
    found.save(
        update_fields=["state", "decided_at", "grant", "granted_scopes", "granted_scope", "granted_duration_seconds"]
    )
    return grant
