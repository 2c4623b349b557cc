"""Issue 9, class 11 (actor) for reviews: the agent asking for itself, an auto-approval and the expiry job are
each named in the trail — the identity, the rule, the Celery task — never a bare "system"."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import AuditEntry
from identities.models import Identity
from reviews.models import ElevationRequest
from reviews.tasks import expire_requests
from tests.reviews.support import ask

pytestmark = pytest.mark.django_db


def test_the_agent_an_auto_approval_and_the_expiry_job_are_named(estate):
    start = AuditEntry.objects.order_by("-id").values_list("id", flat=True).first() or 0
    agent = estate.agent
    asked = ask(estate, actor=None, agent=agent)
    ElevationRequest.objects.filter(pk=asked.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert expire_requests.apply().get() == 1  # as the worker runs it: Celery's task signals fire
    Identity.objects.filter(pk=agent.pk).update(risk_tier="low")
    auto = ask(estate, task="read-only", scopes=["github.read_repo:read"], duration_seconds=900)
    assert auto.state == "approved"

    walked = list(AuditEntry.objects.filter(id__gt=start).order_by("id"))
    named = [(e.action, e.actor_kind, e.actor_label) for e in walked]
    me = f"identity {agent.uuid} ({agent.name})"
    assert ("elevation_request.create", "agent", me) in named
    assert ("task.open", "agent", me) in named
    assert ("elevation_request.expire", "job", expire_requests.name) in named
    [grant] = [e for e in walked if e.action == "grant.create"]
    assert grant.actor_kind == "job" and grant.actor_label.startswith("reviews auto-approval (rule ")
    assert [row for row in named if row[1] == "system" or row[2] in ("", "system")] == []
