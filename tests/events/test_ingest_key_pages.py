"""The ingest-key pages: the roles that see everything read the list, administrators issue (the key shown
once, audited) and revoke (confirm, audited; the key is refused at once); bad input is a 400 naming the field
and writes nothing."""

from __future__ import annotations

import pytest

from audit.events.models import IngestKey
from audit.events.services import ingest_key_create
from audit.models import AuditEntry
from tests.cast import check_access
from tests.events.conftest import event, post_events

pytestmark = pytest.mark.django_db
SEE_ALL = ("administrator", "compliance_officer", "security_analyst", "auditor")


@pytest.fixture
def key(cast):
    key, _ = ingest_key_create(actor=cast.administrator, name="collector-a")
    return key


def test_who_may_open_the_pages(cast, client_factory, key):
    check_access(client_factory, "/events/ingest-keys/", cast=cast, allowed=SEE_ALL)
    check_access(client_factory, "/events/ingest-keys/new/", cast=cast, allowed=["administrator"])
    check_access(client_factory, f"/events/ingest-keys/{key.uuid}/revoke/", cast=cast, allowed=["administrator"])


def test_an_administrator_issues_a_scoped_key_shown_once(cast, client_factory, estate):
    client = client_factory(cast.administrator)
    response = client.post(
        "/events/ingest-keys/new/",
        {"name": "otel-prod", "identities": str(estate.agent.uuid), "service_names": "svc-a\nsvc-b"},
    )
    assert response.status_code == 200 and response["Cache-Control"].startswith("max-age=0")
    secret = response.content.decode().split('id="ingest-key-secret" autocomplete="off"')[0].rsplit('value="', 1)[1]
    secret = secret.split('"', 1)[0]
    assert secret.startswith("aiamik_")
    key = IngestKey.objects.get(name="otel-prod")
    assert list(key.identities.all()) == [estate.agent] and key.service_names == ["svc-a", "svc-b"]
    assert AuditEntry.objects.filter(action="ingest_key.create", actor_id=cast.administrator.pk).exists()
    listed = client.get("/events/ingest-keys/").content.decode()
    assert "otel-prod" in listed and secret not in listed and "svc-b" in listed
    assert post_events(secret, [event(identity=str(estate.agent.uuid))]).json()["accepted"] == 1


def test_bad_input_is_a_400_naming_the_field_and_writes_nothing(cast, client_factory, key):
    client = client_factory(cast.administrator)
    response = client.post("/events/ingest-keys/new/", {"name": "collector-a"})  # taken
    assert response.status_code == 400 and "no other key has" in response.content.decode()
    response = client.post("/events/ingest-keys/new/", {"name": "x", "identities": "not-a-uuid"})
    assert response.status_code == 400 and "not-a-uuid" in response.content.decode()
    assert IngestKey.objects.count() == 1


def test_revoking_refuses_the_key_at_once_and_is_audited(cast, client_factory, estate):
    key, secret = ingest_key_create(actor=cast.administrator, name="to-revoke", all_identities=True)
    client = client_factory(cast.administrator)
    assert client.post(f"/events/ingest-keys/{key.uuid}/revoke/", {"confirm": "yes"}).status_code == 302
    key.refresh_from_db()
    assert key.revoked_at is not None and key.revoked_by == cast.administrator
    assert AuditEntry.objects.filter(action="ingest_key.revoke").count() == 1
    assert post_events(secret, [event(identity=str(estate.agent.uuid))]).status_code == 401
    assert client.post(f"/events/ingest-keys/{key.uuid}/revoke/", {"confirm": "yes"}).status_code == 409
    assert AuditEntry.objects.filter(action="ingest_key.revoke").count() == 1
