"""Alerts waiting for triage, on the security analysts' home page (agentiam.worklist)."""

from __future__ import annotations

from django.db.models import Count, Min
from django.urls import reverse
from django.utils import timezone

from agentiam import worklist
from agentiam.worklist import WorkItem, WorkSource
from audit.alerts.models import Alert
from audit.alerts.selectors import TRIAGERS


def alerts_to_triage(person) -> list[WorkItem]:
    found = Alert.objects.waiting(timezone.now()).aggregate(count=Count("pk"), oldest=Min("raised_at"))
    url = reverse("alerts:list") + "?state=waiting"
    return [WorkItem("alerts", "Alerts to triage", url, found["count"], found["oldest"])]


worklist.register(WorkSource("alerts", alerts_to_triage, roles=TRIAGERS, order=3))
