"""Writing chains through the real ingest path for the alerts tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from identities.models import Tool
from tests.events.conftest import event, post_events, span_id, trace_id


def sensitive_secrets() -> None:
    Tool.objects.filter(key="vault.read_secret").update(sensitivity="critical")


def widening_chain(estate, key: str, *, start: datetime | None = None, trace: str | None = None) -> str:
    """A trace of the triage agent: a permitted read of the repository, then a write of a production secret."""
    trace = trace or trace_id()
    root = span_id()
    start = start or datetime.now(UTC) - timedelta(minutes=1)
    mine = str(estate.agent.uuid)
    at = lambda seconds: (start + timedelta(seconds=seconds)).isoformat()  # noqa: E731
    batch = [
        event(
            identity=mine,
            trace_id=trace,
            span_id=root,
            name="invoke_agent triage",
            tool=None,
            action=None,
            started_at=at(0),
        ),
        event(identity=mine, trace_id=trace, parent_span_id=root, name="read the repo", started_at=at(1)),
        event(
            identity=mine,
            trace_id=trace,
            parent_span_id=root,
            name="write a secret",
            tool="vault.read_secret",
            action="write",
            started_at=at(2),
        ),
    ]
    answer = post_events(key, batch)
    assert answer.status_code == 202 or answer.status_code == 200, answer.content
    return trace
