"""A small enforcement point: agents POST tool calls to it with their access token; it asks AgentIAM's
decide with its own gateway credential and forwards to the tool server only on allow.

It fails closed: a deny is 403 with the reasons, and when AgentIAM cannot be asked (refused credential,
network error, anything but a decision) nothing is forwarded either. It asks `decide` for every call instead of
verifying tokens against the JWKS because only the online check sees a completed task, a suspension or a
revoked token before the token expires.

The agent's W3C `traceparent` header is passed on to decide (and to the tool server) unchanged, so the decision
is recorded in the agent's trace and appears in its chain. The gateway does not judge it: decide ignores a
header it cannot parse, so a broken trace header never stops a call.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.error import URLError

from agentiam.client.http import post

CALL_PATH = "/call"
MAX_BODY = 64 * 1024
ERR_NO_TOKEN = "Send the agent's access token as Authorization: Bearer …."  # noqa: S105 - a message
ERR_BODY = 'Send a JSON object {"tool": …, "action": …, "resource": {…}, "arguments": {…}}.'
ERR_UPSTREAM_DECIDE = "AgentIAM did not decide this call (HTTP {status}: {detail}); nothing was forwarded."
ERR_UNREACHABLE = "AgentIAM could not be reached ({error}); nothing was forwarded."
ERR_TOOL = "The tool server could not be reached ({error})."


class _Server(ThreadingHTTPServer):
    daemon_threads = True


class _LoopbackServer:
    """An http.server on 127.0.0.1 in a daemon thread; `port=0` picks a free port."""

    handler: type[BaseHTTPRequestHandler]

    def __init__(self, port: int = 0):
        self.httpd = _Server(("127.0.0.1", port), self.handler)
        self.httpd.owner = self
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class _JsonHandler(BaseHTTPRequestHandler):
    def log_message(self, format, *args) -> None:
        pass  # the demo prints its own steps

    def read_json(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            return None
        try:
            return json.loads(self.rfile.read(length) or b"null")
        except ValueError:
            return None

    def answer(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


class _ToolHandler(_JsonHandler):
    def do_POST(self) -> None:
        call = self.read_json() or {}
        self.server.owner.received.append(call)
        self.answer(200, {"tool": call.get("tool"), "result": f"{call.get('tool')} ran on {call.get('resource')}"})


class ToolServer(_LoopbackServer):
    """A toy tool server: answers every call it receives and remembers it (so tests see what was forwarded)."""

    handler = _ToolHandler

    def __init__(self, port: int = 0):
        self.received: list[dict] = []
        super().__init__(port)


class _GatewayHandler(_JsonHandler):
    def do_POST(self) -> None:
        gateway: Gateway = self.server.owner
        if self.path != CALL_PATH:
            return self.answer(404, {"detail": f"POST {CALL_PATH}"})
        scheme, _, token = (self.headers.get("Authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return self.answer(401, {"detail": ERR_NO_TOKEN}, {"WWW-Authenticate": "Bearer"})
        call = self.read_json()
        if (
            not isinstance(call, dict)
            or not isinstance(call.get("tool"), str)
            or not isinstance(call.get("action"), str)
        ):
            return self.answer(400, {"detail": ERR_BODY})
        status, body = gateway.forward(token, call, traceparent=self.headers.get("traceparent", ""))
        self.answer(status, body)


class Gateway(_LoopbackServer):
    """Sits in front of `tool_url`; asks `agentiam_url`'s decide with `credential` (aiamgw_…) for every call."""

    handler = _GatewayHandler

    def __init__(self, *, agentiam_url: str, credential: str, tool_url: str, environment: str = "", port: int = 0):
        self.agentiam_url, self.credential, self.tool_url = agentiam_url.rstrip("/"), credential, tool_url
        self.environment = environment
        super().__init__(port)

    def decide(self, token: str, call: dict, traceparent: str = "") -> tuple[int, dict]:
        request = {
            "token": token, "tool": call["tool"], "action": call["action"], "resource": call.get("resource") or {},
        }  # fmt: skip
        if self.environment:
            request["context"] = {"environment": self.environment}
        return post(
            f"{self.agentiam_url}/api/v1/runtime/decide", json_body=request, bearer=self.credential,
            headers=_trace_headers(traceparent),
        )  # fmt: skip

    def forward(self, token: str, call: dict, traceparent: str = "") -> tuple[int, dict]:
        """(status, body) the agent gets: the tool's answer on allow, 403 with reasons on deny, 502 otherwise."""
        try:
            status, answer = self.decide(token, call, traceparent)
        except (URLError, OSError) as error:
            return 502, {"error": "decision_unavailable", "detail": ERR_UNREACHABLE.format(error=error)}
        if status != 200 or answer.get("decision") not in ("allow", "deny"):
            detail = answer.get("detail") if isinstance(answer, dict) else answer
            return 502, {
                "error": "decision_unavailable",
                "detail": ERR_UPSTREAM_DECIDE.format(status=status, detail=detail),
            }
        decision = {"decision": answer["decision"], "reasons": answer["reasons"], "decision_id": answer["decision_id"]}
        if isinstance(answer.get("context"), dict):  # a per-call access request: the agent asks again later
            decision["context"] = answer["context"]
        if answer["decision"] != "allow":
            return 403, {"error": "denied", **decision}
        try:
            tool_status, tool_answer = post(self.tool_url, json_body=call, headers=_trace_headers(traceparent))
        except (URLError, OSError) as error:
            return 502, {"error": "tool_unavailable", "detail": ERR_TOOL.format(error=error), **decision}
        return tool_status, {"tool_answer": tool_answer, **decision}


def _trace_headers(traceparent: str) -> dict[str, str]:
    # Only what fits a header line; the value itself is decide's to judge.
    return {"traceparent": traceparent} if traceparent and traceparent.isprintable() else {}


def call_tool(
    gateway_url: str, token: str, *, tool: str, action: str, resource: dict, arguments=None, traceparent: str = ""
):
    """What an agent does to call a tool through the gateway: (status, body). `traceparent`: the W3C header of
    the agent's current span, when it traces."""
    body = {"tool": tool, "action": action, "resource": resource, "arguments": arguments or {}}
    return post(gateway_url.rstrip("/") + CALL_PATH, json_body=body, bearer=token, headers=_trace_headers(traceparent))
