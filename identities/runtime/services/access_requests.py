"""The access-request endpoint a gateway polls after a per-call deny (AuthZEN Access Request and Approval
draft): where the request stands, and how long to wait before asking again. Only the gateway the call came
through sees it; any other credential gets the same answer as an unknown id."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from identities.runtime.credentials import credential_matches, gateway_prefix
from identities.runtime.models import CallAuthorisation, CallState, Gateway
from identities.runtime.services.decide import GatewayUnauthenticated
from identities.runtime.services.percall import RETRY_AFTER_SECONDS

__all__ = ["access_request_status"]


def _gateway(credential: str | None) -> Gateway:
    prefix = gateway_prefix(credential)
    gateway = Gateway.objects.select_related("identity").filter(prefix=prefix).first() if prefix else None
    if gateway is None or not credential_matches(credential or "", gateway.digest):
        raise GatewayUnauthenticated("The gateway credential is invalid.")
    if gateway.disabled_at is not None or gateway.identity.status != "active":
        raise GatewayUnauthenticated("This gateway is disabled or its identity is not active.")
    return gateway


def _iso(value) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def access_request_status(*, credential: str | None, request_id) -> dict[str, Any] | None:
    """The request's state for the gateway that asked (None: not found for it). `retry_after` only while
    pending; an approval says until when it may be used, once."""
    gateway = _gateway(credential)
    row = CallAuthorisation.objects.filter(uuid=request_id, gateway=gateway).first()
    if row is None:
        return None
    now = timezone.now()
    state = row.state
    if (state == CallState.PENDING and row.expires_at <= now) or (
        state == CallState.APPROVED and row.valid_until <= now
    ):
        state = "lapsed"
    answer = {
        "id": str(row.uuid),
        "state": "used" if state == CallState.CONSUMED else state,
        "tool": row.tool_key,
        "action": row.action,
        "evaluation_id": str(row.evaluation_id),
        "expires_at": _iso(row.expires_at),
        "decided_at": _iso(row.decided_at),
        "valid_until": _iso(row.valid_until),
    }
    if state == CallState.PENDING:
        answer["retry_after"] = RETRY_AFTER_SECONDS
    return answer
