"""A chain of 5,000 steps (issue 12's performance target: the chain answers in <= 1 s server time): the page
and the API read it in a fixed number of queries, fold it below two levels, and page on past 5,000 steps.
The server time is printed (bench/README.md keeps the figure); the assertion leaves room for a loaded machine."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from audit.events.chains import MAX_STEPS
from audit.events.models import ActionEvent
from audit.events.partitions import EVENT_LOG
from identities.runtime.decision_ids import uuid7
from identities.runtime.models import PolicyDecision
from identities.runtime.partitions import DECISION_LOG

pytestmark = pytest.mark.django_db
TRACE = "c4a1" * 8
BUDGET = 1.0  # seconds, the target
SLACK = 3.0  # what the test allows on a machine shared by several suites


def write_chain(identity, steps: int, start: datetime) -> None:
    """A root, 50 sub-agents under it, the rest tool calls spread under the sub-agents; one in ten decided."""
    now = datetime.now(UTC)
    rows, decisions = [], []
    span = lambda n: f"{n + 1:016x}"  # noqa: E731
    for n in range(steps):
        parent = "" if n == 0 else span(0) if n <= 50 else span(1 + n % 50)
        at = start + timedelta(milliseconds=10 * n)
        tool = "" if n <= 50 else ("github.read_repo" if n % 7 else "vault.read_secret")
        rows.append(ActionEvent(
            uuid=uuid.uuid4(), started_at=at, ended_at=at + timedelta(milliseconds=8), ingested_at=now,
            identity=identity, trace_id=TRACE, span_id=span(n), parent_span_id=parent, source="otlp",
            name="invoke_agent" if n <= 50 else f"tools/call {tool}", tool_key=tool, action="read" if tool else "",
            outcome="error" if n % 97 == 0 and n > 50 else "ok",
        ))  # fmt: skip
        if tool and n % 10 == 0:
            decisions.append(PolicyDecision(
                uuid=uuid7(at), decided_at=at, identity=identity, tool_key=tool, action="read", resource={},
                evaluated={}, decision="deny" if tool.startswith("vault") else "allow", reasons=["r"], latency_us=300,
                trace_id=TRACE, span_id=span(n),
            ))  # fmt: skip
    DECISION_LOG.create(start.date() - timedelta(days=1), 3)
    EVENT_LOG.create(start.date() - timedelta(days=1), 3)
    ActionEvent.objects.bulk_create(rows, batch_size=2000)
    PolicyDecision.objects.bulk_create(decisions, batch_size=2000)


def timed(client, url):
    started = time.perf_counter()
    answer = client.get(url)
    return answer, time.perf_counter() - started


def test_a_5000_step_chain_answers_within_budget_in_fixed_queries(estate, cast, client_factory,
                                                                  django_assert_max_num_queries):  # fmt: skip
    write_chain(estate.agent, MAX_STEPS, datetime.now(UTC) - timedelta(hours=1))
    client = client_factory(cast.security_analyst)
    client.get(f"/events/chains/{TRACE}/")  # warm: templates compiled, the session read once
    client.get(f"/api/v1/chains/{TRACE}/")
    with django_assert_max_num_queries(12):
        page, page_seconds = timed(client, f"/events/chains/{TRACE}/")
    text = page.content.decode()
    assert page.status_code == 200 and "5000 steps" in text and "are folded" in text
    assert text.count('class="chain-step') == MAX_STEPS and "chain-denied" in text
    with django_assert_max_num_queries(8):
        api, api_seconds = timed(client, f"/api/v1/chains/{TRACE}/")
    assert api.status_code == 200 and len(api.json()["steps"]) == MAX_STEPS
    print(f"\n5,000-step chain: page {page_seconds * 1000:.0f} ms, API {api_seconds * 1000:.0f} ms (target {BUDGET} s)")
    assert page_seconds < SLACK and api_seconds < SLACK


def test_a_chain_past_5000_steps_pages_on(estate, cast, client_factory):
    write_chain(estate.agent, MAX_STEPS + 120, datetime.now(UTC) - timedelta(hours=1))
    client = client_factory(cast.security_analyst)
    first = client.get(f"/events/chains/{TRACE}/").content.decode()
    assert "Next steps" in first and "(the first 5000)" in first
    link = first[first.index('href="/events/chains/' + TRACE + "/?after=") :].split('"')[1]
    second = client.get(link.replace("&amp;", "&"))
    text = second.content.decode()
    assert second.status_code == 200 and "120 steps on this page" in text and "Next steps" not in text
    assert client.get(f"/events/chains/{TRACE}/?after=tampered").content.decode().count('class="chain-step') == 5000


def test_the_steps_markup_built_in_python_escapes_what_producers_sent(estate, keys, cast, client_factory):
    from tests.events.conftest import event, post_events, trace_id

    trace = trace_id()
    hostile = '<img src=x onerror="alert(1)">'
    sent = event(
        identity=str(estate.agent.uuid), trace_id=trace, name=hostile, outcome="error", error_type="<b>boom</b>"
    )
    answer = post_events(keys.all, [sent])
    assert answer.json()["accepted"] == 1
    text = client_factory(cast.security_analyst).get(f"/events/chains/{trace}/").content.decode()
    assert hostile not in text and "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in text
    assert "<b>boom</b>" not in text and "&lt;b&gt;boom&lt;/b&gt;" in text
