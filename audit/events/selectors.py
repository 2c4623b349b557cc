"""Reads of action events that know the reader: analysts, auditors, compliance officers and administrators see
every event (quarantined ones too); everyone else the events of identities they may view."""

from __future__ import annotations

from django.db.models import QuerySet

from agentiam.permissions import roles_of
from audit.events.models import ActionEvent
from identities.models import Identity
from identities.rules import sees_every_identity


def events_visible_to(user) -> QuerySet[ActionEvent]:
    if sees_every_identity(roles_of(user)):
        return ActionEvent.objects.all()
    return ActionEvent.objects.filter(identity__in=Identity.objects.restrict(user).values("pk"))
