"""POST /v1/traces with hand-made OTLP: partial success in the request's encoding, malformed bodies, wrong types,
future and ancient timestamps, gzip bombs and oversized batches — answered clearly, nothing valid lost."""

from __future__ import annotations

import base64
import gzip
import json
import time

import pytest
from django.test import Client
from google.rpc import status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceResponse,
)

from audit.events.models import ActionEvent
from tests.events.conftest import TRACES_URL, TRIAGE_SERVICE, span_id, trace_id

pytestmark = pytest.mark.django_db


def span(trace: str, span: str, name: str = "invoke_agent triage", *, start: int | None = None, **attributes):
    start = start or time.time_ns()
    return {
        "traceId": trace,
        "spanId": span,
        "name": name,
        "kind": 1,
        "startTimeUnixNano": str(start),
        "endTimeUnixNano": str(start + 1_000_000),
        "attributes": [{"key": k, "value": {"stringValue": v}} for k, v in attributes.items()],
    }


def otlp(*spans, service: str = TRIAGE_SERVICE) -> dict:
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]}
    return {"resourceSpans": [{"resource": resource, "scopeSpans": [{"scope": {"name": "t"}, "spans": list(spans)}]}]}


def post(key: str | None, body: bytes, content_type: str, **headers):
    if key:
        headers["HTTP_AUTHORIZATION"] = f"Bearer {key}"
    return Client().post(TRACES_URL, body, content_type=content_type, **headers)


def as_protobuf(document: dict) -> bytes:
    from audit.events.ingest.otlp import decode_json

    return decode_json(json.dumps(document).encode()).SerializeToString()


def test_a_bad_span_is_rejected_by_itself_and_counted_in_the_json_answer(estate, keys):
    trace = trace_id()
    body = otlp(
        span(trace, span_id(), **{"gen_ai.operation.name": "invoke_agent"}),
        span("00" * 16, span_id()),
        span(trace, span_id(), start=time.time_ns() + 3_600 * 10**9),
    )
    response = post(keys.all, json.dumps(body).encode(), "application/json")
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    partial = response.json()["partialSuccess"]
    assert partial["rejectedSpans"] == "2"
    assert "span 1: traceId" in partial["errorMessage"] and "span 2: starts more than" in partial["errorMessage"]
    assert ActionEvent.objects.filter(trace_id=trace).count() == 1


def test_protobuf_gets_a_protobuf_answer_and_a_clean_batch_no_partial_success(estate, keys):
    trace = trace_id()
    body = as_protobuf(otlp(span(trace, span_id())))
    response = post(keys.all, body, "application/x-protobuf")
    assert response.status_code == 200 and response["Content-Type"] == "application/x-protobuf"
    answer = ExportTraceServiceResponse.FromString(response.content)
    assert not answer.HasField("partial_success")
    assert ActionEvent.objects.get(trace_id=trace).identity_id == estate.agent.pk


def test_ids_in_base64_as_some_exporters_send_them_are_read(estate, keys):
    trace, one = trace_id(), span_id()
    encoded = span(base64.b64encode(bytes.fromhex(trace)).decode(), base64.b64encode(bytes.fromhex(one)).decode())
    assert post(keys.all, json.dumps(otlp(encoded)).encode(), "application/json").status_code == 200
    assert ActionEvent.objects.get().span_id == one


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"\x0a\xff\xff\xff", "application/x-protobuf"),
        (b"{not json", "application/json"),
        (
            json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [{"startTimeUnixNano": "soon"}]}]}]}).encode(),
            "application/json",
        ),
        (json.dumps({"resourceSpans": "many"}).encode(), "application/json"),
    ],
)
def test_malformed_otlp_is_a_400_status_in_the_requests_encoding(estate, keys, body, content_type):
    response = post(keys.all, body, content_type)
    assert response.status_code == 400
    if content_type == "application/json":
        assert response.json()["code"] == 3 and response.json()["message"]
    else:
        assert status_pb2.Status.FromString(response.content).code == 3
    assert not ActionEvent.objects.exists()


def test_an_unsupported_media_type_is_a_415(estate, keys):
    assert post(keys.all, b"x", "text/plain").status_code == 415


def test_a_gzip_bomb_is_a_413_and_gzip_is_honoured(estate, keys):
    trace = trace_id()
    ok = post(
        keys.all,
        gzip.compress(as_protobuf(otlp(span(trace, span_id())))),
        "application/x-protobuf",
        HTTP_CONTENT_ENCODING="gzip",
    )
    assert ok.status_code == 200
    bomb = gzip.compress(b"\x00" * 60_000_000)
    refused = post(keys.all, bomb, "application/x-protobuf", HTTP_CONTENT_ENCODING="gzip")
    assert refused.status_code == 413
    assert status_pb2.Status.FromString(refused.content).code == 8  # RESOURCE_EXHAUSTED
    assert ActionEvent.objects.count() == 1


def test_too_many_spans_is_a_413(estate, keys, settings):
    settings.EVENTS_MAX_BATCH = 3
    body = otlp(*[span(trace_id(), span_id()) for _ in range(4)])
    assert post(keys.all, json.dumps(body).encode(), "application/json").status_code == 413
    assert not ActionEvent.objects.exists()


def test_a_workflow_name_in_gen_ai_agent_name_identifies_nobody_without_a_mapping(estate, keys, cast):
    from audit.events.models import IngestKey
    from audit.events.services import agent_name_map

    body = otlp(span(trace_id(), span_id(), **{"gen_ai.agent.name": "orchestrator"}), service="some-workflow")
    post(keys.all, json.dumps(body).encode(), "application/json")
    assert ActionEvent.objects.get().quarantine == "unknown_identity"  # the bare name matched nobody
    agent_name_map(
        actor=cast.administrator, key=IngestKey.objects.get(name="collector"), agent_name="orchestrator",
        identity=estate.orchestrator,
    )  # fmt: skip
    body = otlp(span(trace_id(), span_id(), **{"gen_ai.agent.name": "orchestrator"}), service="some-workflow")
    post(keys.all, json.dumps(body).encode(), "application/json")
    assert ActionEvent.objects.filter(identity=estate.orchestrator).count() == 1


def test_gen_ai_agent_id_wins_over_the_service_name(estate, keys):
    from identities import services as registry

    registry.identifier_add(
        identity=estate.orchestrator, actor=estate.cast.identity_owner, kind="agent_id", value="asst_orch"
    )
    body = otlp(span(trace_id(), span_id(), **{"gen_ai.agent.id": "asst_orch"}))  # from the triage service
    post(keys.all, json.dumps(body).encode(), "application/json")
    assert ActionEvent.objects.get().identity_id == estate.orchestrator.pk
