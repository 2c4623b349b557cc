"""Acceptable-use records of an identity: versions approved by an accountable owner."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from agentiam.errors import invalid
from audit.trail import audit_record
from identities.models import (
    AcceptableUse,
    Identity,
)
from identities.services.identity import Right, require
from identities.services.refresh import identity_refresh

__all__ = [
    "ERR_AUP_DATES",
    "aup_add_version",
    "current_aup",
]

ERR_AUP_DATES = "valid_until must be after valid_from."


@transaction.atomic
def aup_add_version(
    *,
    identity: Identity,
    actor,
    purpose: str,
    allowed_tools: list[str],
    data_classes: list[str],
    prohibited_actions: str = "",
    human_in_the_loop: str = "",
    valid_from: datetime | None = None,
    valid_until: datetime | None = None,
    request=None,
) -> AcceptableUse:
    """A new version, approved by its author, who must be a current accountable owner."""
    identity = Identity.objects.select_for_update().get(pk=identity.pk)
    require(Right.APPROVE_AUP, identity, actor)
    if not purpose.strip():
        raise invalid("purpose", "purpose is required.")
    now = timezone.now()
    valid_from = valid_from or now
    if valid_until is not None and valid_until <= valid_from:
        raise invalid("valid_until", ERR_AUP_DATES)
    latest = AcceptableUse.objects.filter(identity=identity).order_by("-version").values_list("version", flat=True)
    version = (latest.first() or 0) + 1
    record = AcceptableUse.objects.create(
        identity=identity,
        version=version,
        purpose=purpose,
        allowed_tools=allowed_tools,
        data_classes=data_classes,
        prohibited_actions=prohibited_actions,
        human_in_the_loop=human_in_the_loop,
        valid_from=valid_from,
        valid_until=valid_until,
        approved_by=actor,
        approved_at=now,
    )
    identity_refresh(identity)
    audit_record(
        actor=actor,
        action="acceptable_use.add_version",
        target=identity,
        request=request,
        changes={"version": version, "allowed_tools": allowed_tools, "valid_until": valid_until},
    )
    return record


def current_aup(identity: Identity, at: datetime | None = None) -> AcceptableUse | None:
    at = at or timezone.now()
    return (
        AcceptableUse.objects.filter(identity=identity, valid_from__lte=at)
        .filter(Q(valid_until__isnull=True) | Q(valid_until__gt=at))
        .order_by("-version")
        .first()
    )
