"""Issue 9, class 11 (refused attempts): an authenticated caller refused a write leaves a `*.refused` entry in
the trail naming who, what and why; unauthenticated refusals (failed proofs, bad gateway or API credentials,
anonymous writes) go to the rate-limited security-event log and never to the chained trail."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from agentiam.permissions import roles_of
from audit import security
from audit.models import AuditEntry, SecurityEvent
from identities import services
from identities.runtime.services import ending
from tests.people.test_roles import group_names, step_up
from tests.runtime_support import build_estate, decide, exchange

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_limits(settings):
    settings.SECURITY_EVENT_WINDOW, settings.SECURITY_EVENTS_PER_WINDOW = 60, 5
    cache.clear()


def refused_entries():
    return list(AuditEntry.objects.filter(action__endswith=".refused").order_by("id"))


def test_an_administrator_refused_a_self_grant_through_the_api_is_in_the_trail(cast, client_factory):
    admin = cast.administrator
    client = step_up(client_factory(admin), admin)
    url = f"/api/v1/people/{admin.profile.uuid}/roles/"
    response = client.post(url, {"role": "auditor"}, content_type="application/json")
    assert response.status_code == 403
    [entry] = refused_entries()
    assert (entry.actor_id, entry.actor_label, entry.actor_kind) == (admin.pk, admin.username, "person")
    assert entry.action == "person.grant_role.refused" and entry.object_id == str(admin.profile.uuid)
    assert entry.changes["path"] == url and entry.changes["method"] == "POST" and entry.changes["status"] == 403
    assert entry.changes["reason"] == response.json()["detail"]
    assert "auditor" not in roles_of(admin) and not AuditEntry.objects.filter(action="role.grant").exists()
    assert not SecurityEvent.objects.exists()


def test_a_refused_confirm_page_is_in_the_trail_and_a_refused_read_is_not(cast, client_factory):
    admin = cast.administrator
    client = step_up(client_factory(admin), admin)
    url = reverse("role_revoke", args=[admin.profile.uuid])
    assert client.post(url, {"role": "administrator"}).status_code == 403
    [entry] = refused_entries()
    assert entry.action == "role_revoke.refused" and entry.actor_id == admin.pk
    assert entry.object_id == str(admin.profile.uuid)
    assert "own roles" in entry.changes["reason"]
    assert group_names(admin) == {"administrator"}
    outsider = client_factory(cast.outsider)
    assert outsider.get("/api/v1/people/").status_code == 403  # a read changes nothing: not recorded
    assert len(refused_entries()) == 1


def test_an_owner_refused_resuming_their_suspended_identity_is_in_the_trail(cast, client_factory):
    owner = cast.identity_owner
    agent = services.identity_create(
        actor=owner, kind="agent", name="triage-bot", environment="dev", exposure="internal"
    )
    ending.identity_suspend(identity=agent, actor=owner, reason="pulled")  # the kill switch
    client = step_up(client_factory(owner), owner)
    response = client.post(f"/api/v1/identities/{agent.uuid}/resume/", {"reason": "mine"}, "application/json")
    assert response.status_code == 403
    [entry] = refused_entries()
    assert (entry.action, entry.actor_id, entry.object_id) == ("identity.resume.refused", owner.pk, str(agent.uuid))
    assert entry.changes["reason"] == response.json()["detail"] and entry.changes["status"] == 403
    agent.refresh_from_db()
    assert agent.status == "suspended" and not AuditEntry.objects.filter(action="identity.resume").exists()


def test_unauthenticated_refusals_go_to_the_security_log_never_the_trail(cast):
    estate = build_estate(cast)
    before = AuditEntry.objects.count()
    assert exchange(subject_token="not-a-proof").status_code in (400, 401)
    assert decide("aiamgw_000000000000_" + "x" * 43, "a.b.c").status_code == 401
    assert decide(None, "a.b.c").status_code == 401
    anonymous = Client().post("/api/v1/identities/", {"name": "x"}, content_type="application/json")
    assert anonymous.status_code in (401, 403)
    bad_token = Client().get("/api/v1/identities/", HTTP_AUTHORIZATION="Bearer aiam_nothing_here")
    assert bad_token.status_code == 401
    assert AuditEntry.objects.count() == before  # nothing queued behind the trail's lock
    kinds = list(SecurityEvent.objects.order_by("id").values_list("kind", flat=True))
    assert kinds[0].startswith("token.") and kinds[1:] == [
        "gateway.unauthenticated",
        "gateway.unauthenticated",
        "api.anonymous_write",
        "api.bad_credential",
    ]
    first = SecurityEvent.objects.order_by("id").first()
    assert first.source == "127.0.0.1" and first.path == "/api/v1/runtime/token" and first.method == "POST"
    assert "not-a-proof" not in first.detail
    assert estate.gateway.pk  # the estate's gateway exists: the refused credential is simply not it


def test_the_security_log_is_rate_limited_per_source_and_kind_and_counts_what_it_left_out(cast, monkeypatch):
    bad = "aiamgw_000000000000_" + "x" * 43
    for _ in range(12):
        assert decide(bad, "a.b.c").status_code == 401
    assert SecurityEvent.objects.filter(kind="gateway.unauthenticated").count() == 5
    Client(REMOTE_ADDR="10.9.9.9").post("/api/v1/runtime/decide", "{}", content_type="application/json")
    assert SecurityEvent.objects.filter(source="10.9.9.9").count() == 1  # another source has its own budget
    later = timezone.now() + timedelta(seconds=60)
    monkeypatch.setattr(security.timezone, "now", lambda: later)
    assert decide(bad, "a.b.c").status_code == 401
    newest = SecurityEvent.objects.filter(source="127.0.0.1").order_by("-id").first()
    assert newest.suppressed_before == 7 and SecurityEvent.objects.filter(source="127.0.0.1").count() == 6


def test_security_events_are_append_only():
    from django.db import DatabaseError, transaction

    event = SecurityEvent.objects.create(kind="probe", source="10.0.0.1")
    with pytest.raises(DatabaseError), transaction.atomic():
        SecurityEvent.objects.filter(pk=event.pk).update(kind="other")
    with pytest.raises(DatabaseError), transaction.atomic():
        SecurityEvent.objects.filter(pk=event.pk).delete()


def test_a_forged_cross_site_write_is_not_recorded_as_the_signed_in_persons_attempt(cast):
    client = Client(enforce_csrf_checks=True)
    client.force_login(cast.outsider)  # a person without a second factor to pass, so the CSRF check answers
    response = client.post("/api/v1/tokens/", {"name": "x"})
    assert response.status_code == 403 and response.json()["error"] == "csrf_failed"
    assert refused_entries() == []  # DRF counts the request as unauthenticated: a security event, not theirs
    assert list(SecurityEvent.objects.values_list("kind", flat=True)) == ["api.anonymous_write"]
