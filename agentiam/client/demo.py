"""`python -m agentiam.client demo`: an agent, a gateway and a toy tool server against a running AgentIAM.

The credentials come from the file `manage.py seed_demo` writes for the local profile
(VAR_DIR/demo/reference-client.json). After the `invalid_scope`, the agent asks for elevation with a fresh
proof and polls; the demo manager approves it through the API with the API token in that file. Each step
prints what was sent and what came back; the exit status is 0 only when every step behaved as the runtime promises."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from urllib.error import URLError

from cryptography.hazmat.primitives import serialization

from agentiam.client.agent import AgentClient, RuntimeApiError
from agentiam.client.gateway import Gateway, ToolServer, call_tool
from agentiam.client.http import post

DEFAULT_URL = "http://127.0.0.1:8000"
ERR_NO_SECRETS = (
    "No demo credentials at {path}: start AgentIAM with `make run` (it seeds them for the local profile) "
    "or pass --secrets."
)
ERR_UNREACHABLE = "AgentIAM is not reachable at {url} ({error}): is `make run` up? (--url to change)"


def default_secrets() -> Path:
    var = Path(os.environ.get("AGENTIAM_VAR_DIR") or Path.cwd() / "var")
    return var / "demo" / "reference-client.json"


class Script:
    def __init__(self, out):
        self.out, self.number, self.failures = out, 0, 0

    def step(self, title: str) -> None:
        self.number += 1
        self.out(f"\n{self.number}. {title}")

    def show(self, label: str, value) -> None:
        text = value if isinstance(value, str) else json.dumps(value, indent=None, sort_keys=True)
        self.out(f"   {label}: {text}")

    def expect(self, ok: bool, what: str) -> None:
        self.failures += not ok
        self.out(f"   {'✓' if ok else '✗ UNEXPECTED:'} {what}")


def run(url: str = DEFAULT_URL, secrets: Path | None = None, out=print) -> int:
    try:
        return _run(url, secrets, out)
    except URLError as error:
        out(ERR_UNREACHABLE.format(url=url, error=error.reason))
        return 2


def _run(url: str, secrets: Path | None, out) -> int:
    path = secrets or default_secrets()
    try:
        demo = json.loads(path.read_text())
    except (OSError, ValueError):
        out(ERR_NO_SECRETS.format(path=path))
        return 2
    agent_conf, gateway_conf = demo["agent"], demo["gateway"]
    private_key = serialization.load_pem_private_key(agent_conf["private_key_pem"].encode(), password=None)
    agent = AgentClient(url, token_endpoint=demo["token_endpoint"])
    script = Script(out)
    out(f"AgentIAM at {url}; agent {agent_conf['name']} ({agent_conf['id']}); gateway {gateway_conf['name']}")
    with (
        ToolServer() as tools,
        Gateway(agentiam_url=url, credential=gateway_conf["credential"], tool_url=tools.url) as gw,
    ):
        out(f"Toy tool server at {tools.url}; gateway at {gw.url} (audience {gateway_conf['audience']})")
        task = f"reference-demo-{time.strftime('%Y%m%d-%H%M%S')}"
        call = {"tool": demo["tool"], "action": demo["action"]}

        script.step(f"The agent signs a client assertion (RFC 7523, kid {agent_conf['kid']}) and exchanges it")
        script.show("request", {"scope": demo["scope"], "audience": gateway_conf["audience"], "task": task})
        try:
            grant = agent.exchange(
                agent.assertion(client_id=agent_conf["id"], private_key=private_key, kid=agent_conf["kid"]),
                audience=gateway_conf["audience"], scopes=[demo["scope"]], task=task,
            )  # fmt: skip
        except RuntimeApiError as error:
            script.expect(False, f"the exchange was refused: {error}")
            return 1
        script.show(
            "answer", {"scope": " ".join(grant.scopes), "task_id": grant.task_id, "expires_in": grant.expires_in}
        )
        script.expect(True, f"task-scoped token issued ({grant.access_token[:24]}…)")

        script.step(f"An allowed call through the gateway: {demo['tool']} on {demo['allowed_resource']}")
        status, body = call_tool(gw.url, grant.access_token, resource=demo["allowed_resource"], **call)
        script.show(f"HTTP {status}", body)
        script.expect(status == 200 and len(tools.received) == 1, "allowed, forwarded, the tool answered")

        script.step(f"A call outside the entitlement's scope: {demo['tool']} on {demo['denied_resource']}")
        status, body = call_tool(gw.url, grant.access_token, resource=demo["denied_resource"], **call)
        script.show(f"HTTP {status}", body)
        script.expect(status == 403 and len(tools.received) == 1, f"denied by {body.get('reasons')}, not forwarded")

        def prove() -> str:
            return agent.assertion(client_id=agent_conf["id"], private_key=private_key, kid=agent_conf["kid"])

        script.step(f"The agent asks for a scope it does not hold: {demo['missing_scope']}")
        try:
            agent.exchange(
                prove(),
                audience=gateway_conf["audience"], scopes=[demo["scope"], demo["missing_scope"]], task=task,
            )  # fmt: skip
            script.expect(False, "a token was issued for a scope the agent does not hold")
        except RuntimeApiError as error:
            script.show(f"HTTP {error.status}", {k: error.body.get(k) for k in ("error", "missing_scopes", "task_id")})
            script.show("description", error.body.get("error_description", ""))
            script.expect(error.error == "invalid_scope", "refused with invalid_scope naming the missing scope")
            _elevate(script, agent, demo, prove, error.body.get("task_id", ""), url)
            forwarded = len(tools.received)
            script.step(f"The agent exchanges again, now for {demo['missing_scope']} too, and calls it")
            try:
                wider = agent.exchange(
                    prove(), audience=gateway_conf["audience"], scopes=[demo["scope"], demo["missing_scope"]],
                    task=task,
                )  # fmt: skip
                tool, action = demo["missing_scope"].split(":")
                status, body = call_tool(gw.url, wider.access_token, tool=tool, action=action,
                                         resource=demo["allowed_resource"])  # fmt: skip
                script.show(f"HTTP {status}", body)
                script.expect(status == 200 and len(tools.received) == forwarded + 1, "allowed under the JIT grant")
            except RuntimeApiError as refused:
                script.expect(False, f"still refused after approval: {refused}")

        script.step(f"The agent completes task {task}")
        try:
            script.show("answer", agent.complete(grant))
            script.expect(True, "task completed: its tokens are revoked")
        except RuntimeApiError as error:
            script.expect(False, f"completion was refused: {error}")

        script.step("The same (unexpired) token, the same allowed call, after completion")
        status, body = call_tool(gw.url, grant.access_token, resource=demo["allowed_resource"], **call)
        script.show(f"HTTP {status}", body)
        script.expect(status == 403, f"denied by {body.get('reasons')} before expiry")
    out(f"\n{'All steps behaved as expected.' if not script.failures else f'{script.failures} step(s) misbehaved.'}")
    out(f"Every decision is in the decision log: {url}/runtime/decisions/")
    return 1 if script.failures else 0


def _elevate(script: Script, agent: AgentClient, demo: dict, prove, task_id: str, url: str) -> None:
    """The agent asks for the missing scope with a fresh proof; the demo manager approves it (shorter) with
    their API token, as they would from the inbox; the agent polls until it is decided."""
    script.step(f"The agent asks for elevation for itself: {demo['missing_scope']} on its task, for 15 minutes")
    try:
        asked = agent.ask_elevation(
            prove(), task=task_id, scopes=[demo["missing_scope"]], duration_seconds=900, urgency="high",
            justification="Merge the reviewed fix for the failing release build.",
        )  # fmt: skip
    except RuntimeApiError as error:
        script.expect(False, f"the elevation request was refused: {error}")
        return
    script.show("answer", {key: asked[key] for key in ("id", "state", "scopes", "approvals_needed")})
    script.expect(asked["state"] == "pending", "pending: routed to the owner's manager")
    waiting, wait = agent.elevation(prove(), asked["id"])
    script.show("poll", {"state": waiting["state"], "Retry-After": wait})
    script.expect(wait is not None, "the agent is told to come back later (Retry-After), not held")
    approver = demo.get("approver")
    script.step(f"The manager ({approver['username'] if approver else 'none seeded'}) approves it, for 10 minutes")
    if not approver:
        script.expect(False, f"no approver token in the demo file: approve it at {url}/api/v1/elevation-requests/")
        return
    status, body = post(
        f"{url}/api/v1/elevation-requests/{asked['id']}/approve/", bearer=approver["api_token"],
        json_body={"comment": "Approved for the release fix only.", "duration_seconds": 600},
    )  # fmt: skip
    script.show(f"HTTP {status}", {key: body.get(key) for key in ("state", "decided_by", "detail")})
    script.expect(status == 200 and body.get("state") == "approved", "approved (less than asked: 10 minutes)")
    outcome = agent.wait_for_decision(prove, asked["id"], timeout=30)
    granted = outcome.get("granted") or {}
    terms = {key: granted.get(key) for key in ("expires_at", "duration_seconds")}
    script.show("poll", {"state": outcome["state"], "decided_by": outcome["decided_by"], **terms})
    script.expect(
        outcome["state"] == "approved" and terms["duration_seconds"] == 600,
        "the agent learns who decided, what was granted and until when",
    )
