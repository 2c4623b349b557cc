"""A real MCP tool server for the ingest tests: the MCP Python SDK's MCPServer over stdio, with OpenTelemetry
exporting its SERVER spans to AgentIAM's /v1/traces (OTLP protobuf) as the tool server's own process would.

Run by the MCP SDK's stdio client; the endpoint and the ingest key come from the environment."""

from __future__ import annotations

import os

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

provider = TracerProvider(resource=Resource.create({"service.name": "github-mcp"}))
provider.add_span_processor(
    SimpleSpanProcessor(
        OTLPSpanExporter(
            endpoint=os.environ["AGENTIAM_OTLP_ENDPOINT"],
            headers={"Authorization": f"Bearer {os.environ['AGENTIAM_INGEST_KEY']}"},
        )
    )
)
trace.set_tracer_provider(provider)

server = MCPServer("github-tools")


@server.tool()
def read_repo(repo: str) -> str:
    """Read a repository's description."""
    return f"{repo}: the issue tracker"


@server.tool()
def push_secret(value: str) -> str:
    """Always fails: the tool answers with isError."""
    raise ToolError("pushing secrets is refused")


if __name__ == "__main__":
    server.run("stdio")
