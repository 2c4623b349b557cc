"""Who may write events: anonymous, a wrong credential, an identity's token for another identity, a key out of
its scope (quarantine) and the allowed senders — for both endpoints."""

from __future__ import annotations

import pytest
from django.test import Client

from audit.events.models import ActionEvent
from audit.models import SecurityEvent
from tests.events.conftest import ORCHESTRATOR_SERVICE, TRACES_URL, event, post_events
from tests.runtime_support import access_token

pytestmark = pytest.mark.django_db


def test_anonymous_is_a_401_and_writes_nothing(estate):
    response = post_events(None, [event(identity=str(estate.agent.uuid))])
    assert response.status_code == 401 and response.json()["error"] == "not_authenticated"
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert not ActionEvent.objects.exists()


@pytest.mark.parametrize("credential", ["aiamik_000000000000_" + "x" * 43, "not-a-credential", "a.b.c"])
def test_a_wrong_credential_is_a_401_and_a_security_event(estate, keys, credential):
    response = post_events(credential, [event(identity=str(estate.agent.uuid))])
    assert response.status_code == 401
    assert not ActionEvent.objects.exists()
    assert SecurityEvent.objects.filter(kind="ingest.unauthenticated").exists()


def test_a_gateway_credential_or_a_persons_api_token_is_not_an_ingest_credential(estate, cast):
    from identities.services import api_token_create

    _, api_token = api_token_create(actor=cast.administrator, name="mine")
    for credential in (estate.credential, api_token):
        assert post_events(credential, [event(identity=str(estate.agent.uuid))]).status_code == 401
    assert not ActionEvent.objects.exists()


def test_a_revoked_key_is_refused(estate, keys, cast):
    from audit.events.models import IngestKey
    from audit.events.services import ingest_key_revoke

    ingest_key_revoke(actor=cast.administrator, key=IngestKey.objects.get(name="collector"))
    assert post_events(keys.all, [event(identity=str(estate.agent.uuid))]).status_code == 401


def test_an_identitys_own_token_writes_for_it_and_is_remembered(estate):
    issued = access_token(task="triage-events")
    response = post_events(issued["access_token"], [event()])
    assert response.json()["accepted"] == 1
    row = ActionEvent.objects.get()
    assert row.identity_id == estate.agent.pk and row.token_jti and row.task_id is not None


def test_an_identitys_token_cannot_write_for_another_identity(estate):
    issued = access_token(task="triage-events")
    response = post_events(issued["access_token"], [event(identity=str(estate.orchestrator.uuid))])
    assert response.json()["quarantined"] == 1
    row = ActionEvent.objects.get()
    assert row.identity_id is None and row.quarantine == "out_of_scope"
    assert row.claimed == {"identity": str(estate.orchestrator.uuid)}


def test_a_scoped_key_writes_only_for_its_identities_and_the_rest_waits_in_quarantine(estate, keys):
    response = post_events(
        keys.triage, [event(identity=str(estate.agent.uuid)), event(identifier=ORCHESTRATOR_SERVICE)]
    )
    assert response.json()["accepted"] == 2 and response.json()["quarantined"] == 1
    assert set(ActionEvent.objects.values_list("identity_id", "quarantine")) == {
        (estate.agent.pk, ""),
        (None, "out_of_scope"),
    }


def test_an_unscoped_key_writes_for_nobody(estate, keys):
    response = post_events(keys.none, [event(identity=str(estate.agent.uuid))])
    assert response.json()["quarantined"] == 1
    assert ActionEvent.objects.get().quarantine == "out_of_scope"


def test_an_event_sent_with_only_an_ingest_key_names_no_token(estate, keys):
    post_events(keys.all, [event(identity=str(estate.agent.uuid))])
    assert ActionEvent.objects.get().token_jti == ""


def test_otlp_anonymous_and_wrong_credentials_are_401_in_otlp_shape(estate, keys):
    from google.rpc import status_pb2

    anonymous = Client().post(TRACES_URL, b"", content_type="application/x-protobuf")
    assert anonymous.status_code == 401
    assert status_pb2.Status.FromString(anonymous.content).code == 16  # UNAUTHENTICATED
    wrong = Client().post(TRACES_URL, b"{}", content_type="application/json", HTTP_AUTHORIZATION="Bearer nope")
    assert wrong.status_code == 401 and wrong.json()["code"] == 16
