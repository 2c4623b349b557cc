"""Asking for elevation: checks on arrival, merging, withdrawing, expiring (real database)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from agentiam.errors import Conflict
from audit.models import AuditEntry
from identities import services as registry
from identities.models import Identity
from identities.runtime import services as runtime
from reviews import services
from reviews.models import ElevationRequest
from reviews.services import requests as messages
from tests.factories import EntitlementFactory, ToolFactory
from tests.reviews.support import WRITE, ask

pytestmark = pytest.mark.django_db


def test_an_owner_asks_and_the_request_is_pinned_and_pending(estate):
    made = ask(estate, scope={"repo": "acme/*"}, urgency="high")
    assert (made.state, made.scopes, made.scope, made.urgency) == ("pending", [WRITE], {"repo": "acme/*"}, "high")
    assert made.requested_by == estate.cast.identity_owner and made.task.name == "fix-ci"
    assert made.approvals_needed == 1 and made.rule.name == "Medium and low identities: one approver"
    assert len(made.digest) == 64 and made.pinned["tools"]["github.create_pull_request"]["sensitivity"] == "medium"
    assert abs((made.expires_at - timezone.now()) - timedelta(hours=24)) < timedelta(minutes=1)
    entry = AuditEntry.objects.get(action="elevation_request.create")
    assert entry.object_id == str(made.uuid) and entry.changes["scopes"] == [WRITE]


def test_the_agent_asks_for_itself(estate):
    made = ask(estate, actor=None, agent=estate.agent)
    assert made.requested_by is None and made.requested_by_identity == estate.agent
    with pytest.raises(ValidationError) as refused:
        ask(estate, actor=None, agent=registry.identity_create(
            actor=estate.cast.identity_owner, kind="agent", name="other", environment="dev", exposure="internal"
        ))  # fmt: skip
    assert "identity" in refused.value.message_dict


def test_only_someone_who_may_change_the_identity_asks_for_it(estate):
    with pytest.raises(PermissionDenied):
        ask(estate, actor=estate.cast.manager)
    assert not ElevationRequest.objects.exists()


def test_a_duplicate_pending_request_merges_into_the_open_one(estate):
    first = ask(estate)
    again = ask(estate, justification="still red")
    assert again.pk == first.pk and ElevationRequest.objects.count() == 1
    assert AuditEntry.objects.filter(action="elevation_request.merge").count() == 1
    assert ask(estate, task="other-task").pk != first.pk


def test_already_held_says_so_and_creates_nothing(estate):
    EntitlementFactory(identity=estate.agent, tool=estate.write, action="write")
    with pytest.raises(Conflict, match="Already held") as refused:
        ask(estate, scope={"repo": "acme/x"})
    assert WRITE in str(refused.value) and not ElevationRequest.objects.exists()


@pytest.mark.parametrize(("status", "message"), [("suspended", "suspended"), ("decommissioned", "decommissioned")])
def test_an_identity_that_is_not_active_cannot_ask(estate, status, message):
    Identity.objects.filter(pk=estate.agent.pk).update(status=status)
    with pytest.raises(Conflict, match=message):
        ask(estate)


def test_an_orphaned_identity_cannot_ask(estate):
    Identity.objects.filter(pk=estate.agent.pk).update(is_orphaned=True)
    with pytest.raises(Conflict, match=messages.ERR_ORPHANED):
        ask(estate)


def test_the_acceptable_use_record_must_allow_the_tool(estate):
    ToolFactory(key="payments.refund", actions=["execute"])
    with pytest.raises(ValidationError) as refused:
        ask(estate, scopes=["payments.refund:execute"])
    assert refused.value.message_dict == {"scopes": [messages.ERR_AUP.format(key="payments.refund")]}


@pytest.mark.parametrize(
    ("field", "extra"),
    [
        ("scopes", {"scopes": ["nope.tool:write"]}),
        ("scopes", {"scopes": ["github.read_repo:write"]}),
        ("scopes", {"scopes": ["no-colon"]}),
        ("scopes", {"scopes": []}),
        ("scope", {"scope": {"Bad Name": "x"}}),
        ("scope", {"scope": ["not", "an", "object"]}),
        ("duration_seconds", {"duration_seconds": 0}),
        ("duration_seconds", {"duration_seconds": "3600"}),
        ("duration_seconds", {"duration_seconds": 9 * 3600}),
        ("urgency", {"urgency": "asap"}),
        ("justification", {"justification": "has\x00nul"}),
        ("justification", {"justification": "x" * 2001}),
        ("justification", {"justification": "  "}),
        ("task", {"task": ""}),
    ],
)
def test_bad_input_names_the_field_and_writes_nothing(estate, field, extra):
    with pytest.raises(ValidationError) as refused:
        ask(estate, **extra)
    assert list(refused.value.message_dict) == [field]
    assert not ElevationRequest.objects.exists()


def test_the_duration_is_capped_by_the_rule(estate):
    Identity.objects.filter(pk=estate.agent.pk).update(risk_tier="critical")
    with pytest.raises(ValidationError, match="At most 1800 seconds"):
        ask(estate, duration_seconds=3600)
    assert ask(estate, duration_seconds=1800).approvals_needed == 2


def test_a_closed_task_cannot_be_asked_for(estate):
    task = registry.task_open(identity=estate.agent, name="done")
    runtime.task_end(task=task, actor=estate.cast.identity_owner)
    with pytest.raises(Conflict, match="closed"):
        ask(estate, task="done")


def test_the_requester_withdraws_and_nobody_else(estate):
    made = ask(estate)
    with pytest.raises(PermissionDenied):
        services.request_withdraw(elevation_request=made, actor=estate.cast.manager)
    withdrawn = services.request_withdraw(elevation_request=made, actor=estate.cast.identity_owner, reason="fixed")
    assert withdrawn.state == "withdrawn" and withdrawn.closed_note == "fixed"
    with pytest.raises(Conflict, match="withdrawn"):
        services.request_withdraw(elevation_request=made, actor=estate.cast.identity_owner)


def test_the_agent_withdraws_what_it_asked_for(estate):
    made = ask(estate, actor=None, agent=estate.agent)
    assert services.request_withdraw(elevation_request=made, agent=estate.agent).state == "withdrawn"


def test_pending_requests_expire(estate):
    made = ask(estate)
    kept = ask(estate, task="other")
    ElevationRequest.objects.filter(pk=made.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert services.requests_expire() == 1 and services.requests_expire() == 0
    made.refresh_from_db(), kept.refresh_from_db()
    assert (made.state, kept.state) == ("expired", "pending")
    assert AuditEntry.objects.get(action="elevation_request.expire").changes["requests"] == [str(made.uuid)]


def test_the_beat_sweep_runs_the_expiry(estate, settings):
    from agentiam.celery import app
    from reviews.tasks import expire_requests

    entry = settings.CELERY_BEAT_SCHEDULE["reviews-expire"]
    app.loader.import_default_modules()
    assert entry["task"] in app.tasks and entry["schedule"] <= 300
    made = ask(estate)
    ElevationRequest.objects.filter(pk=made.pk).update(expires_at=timezone.now())
    assert expire_requests() == 1
