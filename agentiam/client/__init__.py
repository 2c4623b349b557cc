"""A reference client of the AgentIAM runtime, importing no Django app: plain Python, PyJWT, cryptography and
urllib. `agent` holds what an agent does (sign a proof, exchange it for a task-scoped token, ask for elevation
and poll for its outcome, complete the task); `gateway` is a small enforcement point in front of a tool server;
`python -m agentiam.client demo` plays both against a running `make run`."""

from agentiam.client.agent import (
    ASSERTION_TYPE,
    JWT_TYPE,
    AgentClient,
    RuntimeApiError,
    TokenGrant,
    client_assertion,
    jwt_svid,
)
from agentiam.client.gateway import Gateway, ToolServer

__all__ = [
    "ASSERTION_TYPE",
    "JWT_TYPE",
    "AgentClient",
    "Gateway",
    "RuntimeApiError",
    "TokenGrant",
    "ToolServer",
    "client_assertion",
    "jwt_svid",
]
