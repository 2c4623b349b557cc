"""The MCP Python SDK's own client and server over stdio (issue 12's acceptance): the server process exports
its SERVER spans to /v1/traces, the agent's process its CLIENT spans (with the SDK's `traceparent` in `_meta`),
each with its own credential. Both protocol versions — the 2025-11-25 initialize handshake (`mode="legacy"`)
and 2026-07-28 (`server/discover`) — give one step per tool call, under the calling agent, the failing tool's
step an error (`tool_error`)."""

from __future__ import annotations

import os
import sys
from concurrent.futures import ThreadPoolExecutor

import anyio
import pytest
from mcp.client.client import Client
from mcp.client.stdio import StdioServerParameters
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

from audit.events.models import ActionEvent
from tests.events.conftest import TRACES_URL, TRIAGE_SERVICE
from tests.support import ROOT

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


class Forward(SpanExporter):
    """The agent process's exporter: the SDK's protobuf exporter, pointed at the live server per test."""

    target: OTLPSpanExporter | None = None

    def export(self, spans):
        return self.target.export(spans) if self.target else SpanExportResult.SUCCESS


FORWARD = Forward()
_provider = TracerProvider(resource=Resource.create({"service.name": TRIAGE_SERVICE}))
_provider.add_span_processor(SimpleSpanProcessor(FORWARD))
trace.set_tracer_provider(_provider)  # the MCP SDK traces through the global provider


async def call_tools(key: str, endpoint: str, mode: str) -> str:
    tracer = trace.get_tracer("agent")
    server = StdioServerParameters(
        command=sys.executable,
        args=["-m", "tests.events.producers.mcp_tool_server"],
        cwd=str(ROOT),
        env={**os.environ, "AGENTIAM_OTLP_ENDPOINT": endpoint, "AGENTIAM_INGEST_KEY": key},
    )
    attributes = {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "triage"}
    with tracer.start_as_current_span("invoke_agent triage", attributes=attributes) as root:
        async with Client(server, mode=mode) as client:
            ok = await client.call_tool("read_repo", {"repo": "acme/api"})
            failed = await client.call_tool("push_secret", {"value": "x"})
    assert not ok.is_error and failed.is_error
    return format(root.get_span_context().trace_id, "032x")


def _apart(function, *args):
    """anyio.run in a thread of its own: in a full run the browser tests' Playwright (sync API) leaves an asyncio
    loop running in the main thread, where anyio.run refuses to start ("Already running asyncio")."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(anyio.run, function, *args).result()


@pytest.mark.parametrize(("mode", "protocol"), [("legacy", "2025-11-25"), ("auto", "2026-07-28")])
def test_each_mcp_tool_call_is_one_step_of_the_calling_agent(live_server, estate, keys, mode, protocol):
    endpoint = live_server.url + TRACES_URL
    FORWARD.target = OTLPSpanExporter(endpoint=endpoint, headers={"Authorization": f"Bearer {keys.all}"})
    try:
        trace_id = _apart(call_tools, keys.all, endpoint, mode)
    finally:
        FORWARD.target = None
    steps = ActionEvent.objects.filter(trace_id=trace_id, operation="execute_tool").order_by("started_at")
    assert [(step.tool_key, step.outcome, step.error_type) for step in steps] == [
        ("read_repo", "ok", ""),
        ("push_secret", "error", "tool_error"),
    ]
    for step in steps:
        assert step.identity_id == estate.agent.pk  # not the tool server's service
        assert step.quarantine == ""
        assert len(step.folded_span_ids) == 1  # the server's span folded into the client's
        assert step.attributes["mcp.protocol.version"] == protocol
    root = ActionEvent.objects.get(trace_id=trace_id, operation="invoke_agent")
    assert root.identity_id == estate.agent.pk


async def run_agent(endpoint: str, key: str) -> None:
    from fastmcp.client import Client as FastMCPClient
    from fastmcp.client.transports import StdioTransport
    from pydantic_ai import Agent
    from pydantic_ai.mcp import MCPToolset
    from pydantic_ai.models.test import TestModel

    transport = StdioTransport(
        command=sys.executable,
        args=["-m", "tests.events.producers.mcp_tool_server"],
        env={**os.environ, "AGENTIAM_OTLP_ENDPOINT": endpoint, "AGENTIAM_INGEST_KEY": key},
        cwd=str(ROOT),
    )
    toolset = MCPToolset(FastMCPClient(transport), tool_error_behavior="failed")
    agent = Agent(TestModel(call_tools=["read_repo", "push_secret"]), name="triage", toolsets=[toolset])
    async with agent:
        await agent.run("Describe acme/api")


def test_pydantic_ai_with_an_mcp_toolset_gives_one_step_per_call_despite_two_client_spans(live_server, estate, keys):
    from pydantic_ai import Agent

    endpoint = live_server.url + TRACES_URL
    FORWARD.target = OTLPSpanExporter(endpoint=endpoint, headers={"Authorization": f"Bearer {keys.all}"})
    Agent.instrument_all()
    try:
        _apart(run_agent, endpoint, keys.all)
    finally:
        Agent.instrument_all(False)
        FORWARD.target = None
    agent_step = ActionEvent.objects.get(operation="invoke_agent")
    steps = ActionEvent.objects.filter(trace_id=agent_step.trace_id, operation="execute_tool").order_by("started_at")
    assert [(step.tool_key, step.outcome) for step in steps] == [("read_repo", "ok"), ("push_secret", "error")]
    for step in steps:
        assert step.identity_id == estate.agent.pk
        # pydantic-ai's execute_tool speaks for the call; fastmcp's and the SDK's CLIENT spans and the server's
        # SERVER span are folded into it
        assert step.fold_rank == 3 and len(step.folded_span_ids) == 3
        assert ActionEvent.objects.filter(trace_id=step.trace_id, span_id=step.parent_span_id).exists()
