"""POST /api/v1/events: our JSON shape, batches, idempotency, identity resolution and quarantine."""

from __future__ import annotations

import pytest

from audit.events.models import ActionEvent
from tests.events.conftest import TRIAGE_SERVICE, event, post_events, trace_id

pytestmark = pytest.mark.django_db


def test_a_batch_is_written_once_whatever_how_often_it_is_sent(estate, keys):
    trace = trace_id()
    batch = [event(identity=str(estate.agent.uuid), trace_id=trace) for _ in range(3)]
    first = post_events(keys.all, batch)
    assert first.status_code == 200, first.content
    assert first.json() == {"accepted": 3, "duplicates": 0, "quarantined": 0, "rejected": []}
    again = post_events(keys.all, batch)
    assert again.json() == {"accepted": 0, "duplicates": 3, "quarantined": 0, "rejected": []}
    rows = ActionEvent.objects.filter(trace_id=trace)
    assert rows.count() == 3
    assert {row.identity_id for row in rows} == {estate.agent.pk}
    assert {str(row.uuid) for row in rows} == {item["id"] for item in batch}


def test_an_identifier_names_the_identity(estate, keys):
    response = post_events(keys.all, [event(identifier=TRIAGE_SERVICE)])
    assert response.json()["accepted"] == 1
    assert ActionEvent.objects.get().identity_id == estate.agent.pk


def test_invalid_items_are_reported_by_index_and_field_and_the_valid_ones_kept(estate, keys):
    good = event(identity=str(estate.agent.uuid))
    response = post_events(
        keys.all,
        [
            good,
            event(identity=str(estate.agent.uuid), trace_id="xyz"),
            event(identity=str(estate.agent.uuid), started_at="2999-01-01T00:00:00Z"),
            event(identity=str(estate.agent.uuid), action="delete", surprise=1),
            "not an object",
        ],
    )
    assert response.status_code == 200
    body = response.json()
    assert body["accepted"] == 1
    assert {item["index"]: sorted(item["fields"]) for item in body["rejected"]} == {
        1: ["trace_id"],
        2: ["started_at"],
        3: ["action", "surprise"],
        4: [""],
    }
    assert list(ActionEvent.objects.values_list("uuid", flat=True)) == [__import__("uuid").UUID(good["id"])]


def test_a_batch_with_no_valid_event_is_a_400_naming_each_field_and_writes_nothing(estate, keys):
    response = post_events(keys.all, [event(span_id="00" * 8), event(id="nope", ended_at="yesterday")])
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid"
    assert set(body["fields"]) == {"events.0.span_id", "events.1.id", "events.1.ended_at"}
    assert not ActionEvent.objects.exists()


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"events": []}, 400, "invalid"),
        ({"items": [{"id": 1}]}, 400, "invalid"),
        ({"events": [{}] * 5001}, 413, "too_many_events"),
    ],
)
def test_an_envelope_that_is_not_a_batch_is_refused_whole(estate, keys, body, status, code):
    response = post_events(keys.all, body)
    assert (response.status_code, response.json()["error"]) == (status, code)
    assert "events" in response.json()["fields"]
    assert not ActionEvent.objects.exists()


def test_nesting_past_the_json_limit_is_refused(estate, keys):
    deep = {"a": None}
    for _ in range(80):
        deep = {"a": deep}
    response = post_events(keys.all, [event(identity=str(estate.agent.uuid), attributes=deep)])
    assert (response.status_code, response.json()["error"]) == (400, "json_too_deep")
    assert not ActionEvent.objects.exists()


def test_a_nul_character_is_refused_by_field(estate, keys):
    response = post_events(
        keys.all, [event(identity=str(estate.agent.uuid), name="a\x00b"), event(identifier=TRIAGE_SERVICE)]
    )
    assert response.status_code == 400  # the request guard refuses NUL before the view (the body is plain JSON)
    assert not ActionEvent.objects.exists()


def test_gzip_is_read_and_a_gzip_bomb_is_a_413(estate, keys):
    import gzip
    import json

    from django.test import Client

    payload = gzip.compress(json.dumps({"events": [event(identity=str(estate.agent.uuid))]}).encode())
    headers = {"HTTP_AUTHORIZATION": f"Bearer {keys.all}", "HTTP_CONTENT_ENCODING": "gzip"}
    ok = Client().post("/api/v1/events", payload, content_type="application/json", **headers)
    assert ok.status_code == 200 and ok.json()["accepted"] == 1
    bomb = gzip.compress(b'{"events": [' + b" " * 50_000_000 + b"]}")
    assert len(bomb) < 100_000
    refused = Client().post("/api/v1/events", bomb, content_type="application/json", **headers)
    assert (refused.status_code, refused.json()["error"]) == (413, "request_too_large")
    broken = Client().post("/api/v1/events", b"\x1f\x8bnot gzip", content_type="application/json", **headers)
    assert (broken.status_code, broken.json()["error"]) == (400, "invalid_gzip")
    assert ActionEvent.objects.count() == 1


def test_an_unknown_identity_is_kept_in_quarantine_with_what_it_claimed(estate, keys):
    response = post_events(keys.all, [event(identifier="spiffe://prod.example.com/agent/nobody")])
    assert response.json() == {"accepted": 1, "duplicates": 0, "quarantined": 1, "rejected": []}
    row = ActionEvent.objects.get()
    assert row.identity_id is None and row.quarantine == "unknown_identity"
    assert row.claimed == {"identifier": "spiffe://prod.example.com/agent/nobody"}


def test_content_is_dropped_unless_an_administrator_enabled_it(estate, keys, settings):
    secret = {"gen_ai.tool.call.arguments": {"iban": "DE89370400440532013000"}, "gen_ai.tool.name": "x"}
    post_events(keys.all, [event(identity=str(estate.agent.uuid), attributes=secret)])
    row = ActionEvent.objects.get()
    assert row.content == {} and row.attributes == {"gen_ai.tool.name": "x"}
    settings.EVENTS_STORE_CONTENT = True
    post_events(keys.all, [event(identity=str(estate.agent.uuid), attributes=secret)])
    assert ActionEvent.objects.exclude(pk=row.pk).get().content == {
        "gen_ai.tool.call.arguments": {"iban": "DE89370400440532013000"}
    }
