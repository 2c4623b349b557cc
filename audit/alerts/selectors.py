"""Reads of alerts that know the reader: the roles that see everything see every alert; identity owners and
managers the alerts on identities they may view (Identity.objects.restrict). Triage is for security analysts
(audit.alerts.services); suspending from an alert is whoever may suspend the identity."""

from __future__ import annotations

from django.db.models import QuerySet
from django.utils import timezone

from agentiam.permissions import ALL_ROLES, Role, roles_of
from audit.alerts.models import Alert
from identities.models import Identity
from identities.rules import sees_every_identity

READERS = ALL_ROLES
TRIAGERS = frozenset({Role.SECURITY_ANALYST})


def alerts_visible_to(user) -> QuerySet[Alert]:
    roles = roles_of(user)
    if not roles:
        return Alert.objects.none()
    if sees_every_identity(roles):
        return Alert.objects.all()
    return Alert.objects.filter(identity__in=Identity.objects.restrict(user).values("pk"))


def waiting_count(user) -> int:
    """Alerts waiting for an analyst (the navigation's count): open, or suppressed until a moment now past."""
    if not roles_of(user) & TRIAGERS:
        return 0
    return Alert.objects.waiting(timezone.now()).count()
