"""Registry writes about who owns an identity: assign, end, bulk transfer; who owned it when."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from agentiam.errors import invalid
from agentiam.permissions import Role, roles_of
from audit.trail import audit_record
from identities.models import (
    Identity,
    Ownership,
    OwnershipRole,
)
from identities.models.registry import current_ownerships
from identities.services.identity import ERR_REASON_REQUIRED, Right, require
from identities.services.refresh import identity_refresh

__all__ = [
    "ERR_ALREADY_OWNER",
    "ERR_OWNER_INACTIVE",
    "ERR_OWNER_ROLE",
    "owner_at",
    "ownership_assign",
    "ownership_end",
    "ownership_transfer_bulk",
]

ERR_OWNER_ROLE = "Only persons who hold the identity owner role can be named owners."
ERR_OWNER_INACTIVE = "Only active persons can be named owners."
ERR_ALREADY_OWNER = "This person already owns the identity in that role."


def _check_owner_candidate(person) -> None:
    if not person.is_active:
        raise invalid("person", ERR_OWNER_INACTIVE)
    if Role.IDENTITY_OWNER not in roles_of(person):
        raise invalid("person", ERR_OWNER_ROLE)


@transaction.atomic
def ownership_assign(*, identity: Identity, person, role: str, actor, request=None) -> Ownership:
    """Name a person owner in a role; a new accountable owner replaces the current one (a transfer)."""
    identity = Identity.objects.select_for_update().get(pk=identity.pk)
    require(Right.CHANGE, identity, actor)
    _check_owner_candidate(person)
    now = timezone.now()
    current = Ownership.objects.filter(identity=identity, valid_to__isnull=True)
    if current.filter(person=person, role=role).exists():
        raise invalid("person", ERR_ALREADY_OWNER)
    ended = []
    if role == OwnershipRole.ACCOUNTABLE:
        for previous in current.filter(role=OwnershipRole.ACCOUNTABLE):
            Ownership.objects.filter(pk=previous.pk).update(valid_to=now, ended_by=actor, end_reason="transferred")
            ended.append(previous.person.username)
    ownership = Ownership.objects.create(identity=identity, person=person, role=role, valid_from=now, assigned_by=actor)
    identity_refresh(identity)
    audit_record(
        actor=actor,
        action="ownership.assign",
        target=identity,
        request=request,
        changes={"person": person.username, "role": role, "replaced": ended},
    )
    return ownership


@transaction.atomic
def ownership_end(*, ownership: Ownership, actor, reason: str, request=None) -> Ownership:
    identity = Identity.objects.select_for_update().get(pk=ownership.identity_id)
    require(Right.CHANGE, identity, actor)
    if not reason.strip():
        raise invalid("reason", ERR_REASON_REQUIRED)
    Ownership.objects.filter(pk=ownership.pk, valid_to__isnull=True).update(
        valid_to=timezone.now(), ended_by=actor, end_reason=reason
    )
    identity_refresh(identity)
    audit_record(
        actor=actor,
        action="ownership.end",
        target=identity,
        request=request,
        changes={"person": ownership.person.username, "role": ownership.role, "reason": reason},
    )
    ownership.refresh_from_db()
    return ownership


@transaction.atomic
def ownership_transfer_bulk(*, identities: Iterable[Identity], to_person, actor, reason: str, request=None) -> int:
    """Make `to_person` the accountable owner of many identities at once; one audit entry with a digest."""
    if not reason.strip():
        raise invalid("reason", ERR_REASON_REQUIRED)
    _check_owner_candidate(to_person)
    moved = []
    for identity in Identity.objects.select_for_update().filter(pk__in=[i.pk for i in identities]).order_by("pk"):
        require(Right.CHANGE, identity, actor)
        now = timezone.now()
        Ownership.objects.filter(identity=identity, role=OwnershipRole.ACCOUNTABLE, valid_to__isnull=True).update(
            valid_to=now, ended_by=actor, end_reason=f"transferred: {reason}"
        )
        Ownership.objects.filter(
            identity=identity, person=to_person, role=OwnershipRole.ACCOUNTABLE, valid_to__isnull=True
        ).delete()
        Ownership.objects.create(
            identity=identity, person=to_person, role=OwnershipRole.ACCOUNTABLE, valid_from=now, assigned_by=actor
        )
        identity_refresh(identity)
        moved.append(str(identity.uuid))
    digest = hashlib.sha256("\n".join(sorted(moved)).encode()).hexdigest()
    audit_record(
        actor=actor,
        action="ownership.transfer_bulk",
        object_type="identities.identity",
        object_label=f"{len(moved)} identities",
        request=request,
        changes={"to": to_person.username, "count": len(moved), "sha256": digest, "reason": reason},
    )
    return len(moved)


def owner_at(identity: Identity, when: datetime, role: str = OwnershipRole.ACCOUNTABLE):
    """Who owned `identity` in `role` at `when` (None if nobody did)."""
    row = current_ownerships(when).filter(identity=identity, role=role).select_related("person").first()
    return row.person if row else None
