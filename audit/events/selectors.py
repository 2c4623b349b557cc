"""Reads of action events that know the reader: analysts, auditors, compliance officers and administrators see
every event (quarantined ones too); everyone else the events of identities they may view. The gateway
decisions of a trace follow the decision log's own rule (the same one)."""

from __future__ import annotations

from django.db.models import QuerySet

from agentiam.permissions import roles_of
from audit.events.models import ActionEvent
from identities.models import Identity
from identities.rules import sees_every_identity
from identities.runtime.models import PolicyDecision


def events_visible_to(user) -> QuerySet[ActionEvent]:
    if sees_every_identity(roles_of(user)):
        return ActionEvent.objects.all()
    return ActionEvent.objects.filter(identity__in=Identity.objects.restrict(user).values("pk"))


def decisions_visible_to(user) -> QuerySet[PolicyDecision]:
    if sees_every_identity(roles_of(user)):
        return PolicyDecision.objects.all()
    return PolicyDecision.objects.filter(identity__in=Identity.objects.restrict(user).values("pk"))
