"""Fixtures the events tests share: the runtime's estate (two agents with SPIFFE ids, gateways, a policy),
service names registered for them, and ingest keys made through the service."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from django.test import Client

from audit import actors
from audit.events.services import ingest_key_create
from identities import services as registry
from tests.runtime_support import build_estate

EVENTS_URL = "/api/v1/events"
TRACES_URL = "/v1/traces"
TRIAGE_SERVICE = "triage-bot-svc"
ORCHESTRATOR_SERVICE = "orchestrator-svc"


@dataclass
class Keys:
    all: str  # --all: a collector for everyone
    triage: str  # scoped to the triage agent only
    none: str  # scoped to nobody


@pytest.fixture
def estate(cast):
    estate = build_estate(cast)
    for identity, service in ((estate.agent, TRIAGE_SERVICE), (estate.orchestrator, ORCHESTRATOR_SERVICE)):
        registry.identifier_add(identity=identity, actor=cast.identity_owner, kind="service_name", value=service)
    return estate


@pytest.fixture
def keys(estate) -> Keys:
    job = actors.job("tests")
    _, every = ingest_key_create(actor=job, name="collector", all_identities=True)
    _, triage = ingest_key_create(actor=job, name="triage-only", identities=[str(estate.agent.uuid)])
    _, nobody = ingest_key_create(actor=job, name="unscoped")
    return Keys(every, triage, nobody)


def trace_id() -> str:
    return secrets.token_hex(16)


def span_id() -> str:
    return secrets.token_hex(8)


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


def event(**fields) -> dict:
    body = {
        "id": fields.pop("id", None) or str(__import__("uuid").uuid4()),
        "trace_id": fields.pop("trace_id", None) or trace_id(),
        "span_id": fields.pop("span_id", None) or span_id(),
        "started_at": fields.pop("started_at", None) or now_iso(),
        "tool": "github.read_repo",
        "action": "read",
        "outcome": "ok",
        **fields,
    }
    return {key: value for key, value in body.items() if value is not None}


def post_events(credential: str | None, events: list[dict] | dict, **headers):
    body = events if isinstance(events, dict) else {"events": events}
    if credential:
        headers["HTTP_AUTHORIZATION"] = f"Bearer {credential}"
    return Client().post(EVENTS_URL, json.dumps(body), content_type="application/json", **headers)
