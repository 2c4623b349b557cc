"""POST /v1/traces fed by the OpenTelemetry Python SDK's own OTLP/HTTP exporters (protobuf, gzip, JSON) against
the live server: an agent's process (invoke_agent → execute_tool → the framework's and the MCP SDK's
`tools/call` CLIENT spans) and the tool server's process (its SERVER span, parented through `traceparent`),
exported separately, make one chain under the calling agent — each tool call once, the error outcome kept."""

from __future__ import annotations

import pytest
from opentelemetry import trace
from opentelemetry.exporter.otlp.json.http.trace_exporter import OTLPSpanExporter as JsonSpanExporter
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as ProtobufSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.trace import SpanKind, Status, StatusCode

from audit.events.models import ActionEvent, QuarantineReason
from tests.events.conftest import TRACES_URL, TRIAGE_SERVICE

pytestmark = pytest.mark.django_db(transaction=True)


class Recording(ProtobufSpanExporter):
    """The SDK's protobuf exporter, remembering what each export returned."""

    results: list

    def export(self, spans):
        result = super().export(spans)
        self.results = [*getattr(self, "results", []), result]
        return result


def provider(exporter, service: str) -> TracerProvider:
    tracer_provider = TracerProvider(resource=Resource.create({"service.name": service}))
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    return tracer_provider


def protobuf(live_server, key: str, **options) -> Recording:
    return Recording(endpoint=live_server.url + TRACES_URL, headers={"Authorization": f"Bearer {key}"}, **options)


def agent_process(tracer_provider, *, request_id: int = 1, tool: str = "github.read_repo", protocol="2025-11-25"):
    """What pydantic-ai with an MCP toolset emits in the agent's process; returns the SDK client span's context
    (what travels in `_meta.traceparent`) and the trace id."""
    tracer = tracer_provider.get_tracer("agent")
    agent = {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "triage"}
    execute = {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": tool,
        "gen_ai.tool.call.id": "call_1",
        "gen_ai.tool.call.arguments": '{"account": "DE89 3704 0044 0532 0130 00"}',
    }
    framework = {"mcp.method.name": "tools/call", "jsonrpc.request.id": request_id, "gen_ai.tool.name": tool}
    sdk = {"mcp.method.name": "tools/call", "jsonrpc.request.id": str(request_id), "mcp.protocol.version": protocol}
    with (
        tracer.start_as_current_span("invoke_agent triage", attributes=agent) as root,
        tracer.start_as_current_span(f"execute_tool {tool}", attributes=execute),
        tracer.start_as_current_span(f"tools/call {tool}", kind=SpanKind.CLIENT, attributes=framework),
        tracer.start_as_current_span(f"MCP send tools/call {tool}", kind=SpanKind.CLIENT, attributes=sdk) as client,
    ):
        context = client.get_span_context()
    return context, format(root.get_span_context().trace_id, "032x")


def tool_server_process(tracer_provider, parent, *, request_id: int = 1, tool="github.read_repo", error=False):
    """The MCP SDK's SERVER span in the tool server's own process, its parent the client span (traceparent)."""
    tracer = tracer_provider.get_tracer("mcp.server")
    attributes = {
        "mcp.method.name": "tools/call",
        "mcp.protocol.version": "2026-07-28",
        "jsonrpc.request.id": str(request_id),
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": tool,
    }
    if error:
        attributes["error.type"] = "tool_error"
    ctx = trace.set_span_in_context(trace.NonRecordingSpan(parent))
    with tracer.start_as_current_span(
        f"tools/call {tool}", context=ctx, kind=SpanKind.SERVER, attributes=attributes
    ) as span:
        if error:
            span.set_status(Status(StatusCode.ERROR, "tool failed"))


def test_the_agent_and_its_tool_server_export_one_chain_with_each_tool_call_once(live_server, estate, keys):
    agent_exporter = protobuf(live_server, keys.all)
    server_exporter = protobuf(live_server, keys.all, compression=Compression.Gzip)
    client_context, trace_id = agent_process(provider(agent_exporter, TRIAGE_SERVICE))
    tool_server_process(provider(server_exporter, "github-mcp"), client_context, error=True)

    assert set(agent_exporter.results) == set(server_exporter.results) == {SpanExportResult.SUCCESS}
    steps = list(ActionEvent.objects.filter(trace_id=trace_id).order_by("started_at"))
    assert [(step.operation, step.tool_key) for step in steps] == [
        ("invoke_agent", ""),
        ("execute_tool", "github.read_repo"),
    ]
    agent_step, tool_step = steps
    assert {step.identity_id for step in steps} == {estate.agent.pk}  # the caller, not the tool server
    assert tool_step.parent_span_id == agent_step.span_id
    assert len(tool_step.folded_span_ids) == 3  # both CLIENT spans and the SERVER span
    assert tool_step.outcome == "error" and tool_step.error_type == "tool_error"
    assert tool_step.content == {}  # arguments are not stored unless an administrator enables it


def test_a_tool_server_span_first_waits_in_quarantine_until_its_caller_arrives(live_server, estate, keys):
    agent_provider = provider(protobuf(live_server, keys.all), TRIAGE_SERVICE)
    # The agent's spans are made but exported only later: the server's export lands first.
    held = []

    class Holding(ProtobufSpanExporter):
        def export(self, spans):
            held.extend(spans)
            return SpanExportResult.SUCCESS

    holding_provider = provider(Holding(endpoint="http://127.0.0.1:9/unused"), TRIAGE_SERVICE)
    client_context, trace_id = agent_process(holding_provider, request_id=7)
    tool_server_process(provider(protobuf(live_server, keys.all), "github-mcp"), client_context, request_id=7)

    waiting = ActionEvent.objects.get(trace_id=trace_id)
    assert waiting.identity_id is None and waiting.quarantine == QuarantineReason.CALLER_UNKNOWN

    assert protobuf(live_server, keys.all).export(held) == SpanExportResult.SUCCESS
    assert agent_provider is not None
    steps = ActionEvent.objects.filter(trace_id=trace_id)
    assert steps.count() == 2
    tool_step = steps.get(operation="execute_tool")
    assert tool_step.pk == waiting.pk  # the caller's spans folded into the stored step
    assert tool_step.identity_id == estate.agent.pk and tool_step.quarantine == ""
    assert tool_step.fold_rank == 3 and len(tool_step.folded_span_ids) == 3


def test_the_json_exporter_and_a_resent_batch_write_each_step_once(live_server, estate, keys):
    exporter = JsonSpanExporter(endpoint=live_server.url + TRACES_URL, headers={"Authorization": f"Bearer {keys.all}"})
    spans = []

    class Keeping(JsonSpanExporter):
        def export(self, batch):
            spans.extend(batch)
            return exporter.export(batch)

    _, trace_id = agent_process(provider(Keeping(endpoint=live_server.url + TRACES_URL), TRIAGE_SERVICE))
    assert ActionEvent.objects.filter(trace_id=trace_id).count() == 2
    assert exporter.export(spans) == SpanExportResult.SUCCESS  # the whole trace delivered again
    assert ActionEvent.objects.filter(trace_id=trace_id).count() == 2
    assert set(ActionEvent.objects.filter(trace_id=trace_id).values_list("identity_id", flat=True)) == {estate.agent.pk}
