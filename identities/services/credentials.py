"""Credentials recorded by fingerprint, and the revocation requests that follow them."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from agentiam.errors import Conflict, invalid
from audit.trail import audit_record
from identities.models import (
    Credential,
    Entitlement,
    Identity,
    RevocationStatus,
)
from identities.services.identity import Right, require
from identities.services.refresh import identity_refresh

__all__ = [
    "ERR_FINGERPRINT",
    "credential_register",
    "credential_request_revocation",
    "credential_resolve_revocation",
]

ERR_FINGERPRINT = "fingerprint must be a hex SHA-256 digest (64 characters) or another hex digest of 32-128 characters."


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
def credential_register(
    *, actor, holders: list[Identity], entitlements: list[Entitlement] | None = None, request=None, **fields: Any
) -> Credential:
    """Record a credential by fingerprint; the secret itself is never accepted or stored."""
    fingerprint = str(fields.get("fingerprint", "")).lower()
    if not (32 <= len(fingerprint) <= 128) or any(c not in "0123456789abcdef" for c in fingerprint):
        raise invalid("fingerprint", ERR_FINGERPRINT)
    fields["fingerprint"] = fingerprint
    for identity in holders:
        require(Right.CHANGE, identity, actor)
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
        require(Right.CHANGE, identity, actor)
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
        require(Right.CHANGE, identity, actor)
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
