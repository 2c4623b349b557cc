"""What an agent does: prove what it is, exchange the proof for a task-scoped token, ask for elevation when a
scope is missing (and poll for the outcome), complete the task."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import jwt

from agentiam.client.http import get, post

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:token-exchange"
JWT_TYPE = "urn:ietf:params:oauth:token-type:jwt"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
TOKEN_PATH = "/api/v1/runtime/token"  # noqa: S105 - a path
ELEVATION_PATH = "/api/v1/runtime/elevation-requests"
MAX_POLL_WAIT = 30  # seconds between two polls at most, whatever Retry-After says
ASSERTION_LIFETIME = 60  # the token service accepts short assertions only


def _algorithm(private_key) -> str:
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519

    if isinstance(private_key, ed25519.Ed25519PrivateKey):
        return "EdDSA"
    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        return {"secp256r1": "ES256", "secp384r1": "ES384"}[private_key.curve.name]
    raise ValueError("use an Ed25519, P-256 or P-384 private key")


def client_assertion(*, client_id: str, private_key, kid: str, token_endpoint: str) -> str:
    """An RFC 7523 client assertion: iss = sub = the identity's id, aud = the token endpoint, a fresh jti
    (the token service refuses a replayed one), valid for a minute."""
    now = int(time.time())
    claims = {
        "iss": client_id, "sub": client_id, "aud": token_endpoint,
        "iat": now, "exp": now + ASSERTION_LIFETIME, "jti": uuid.uuid4().hex,
    }  # fmt: skip
    return jwt.encode(claims, private_key, algorithm=_algorithm(private_key), headers={"kid": kid})


def jwt_svid(*, spiffe_id: str, private_key, kid: str, audience: str, lifetime: int = 300, algorithm: str = "") -> str:
    """A JWT-SVID as a SPIFFE workload API would mint it (for tests and demos holding the bundle's key)."""
    now = int(time.time())
    claims = {"sub": spiffe_id, "aud": audience, "iat": now, "exp": now + lifetime}
    alg = algorithm or _algorithm(private_key)
    return jwt.encode(claims, private_key, algorithm=alg, headers={"kid": kid, "typ": "JWT"})


class RuntimeApiError(Exception):
    """AgentIAM refused: `status`, the OAuth `error` code and the whole JSON answer (missing_scopes, …)."""

    def __init__(self, status: int, body: Any):
        self.status, self.body = status, body if isinstance(body, dict) else {"detail": str(body)}
        self.error = self.body.get("error", "")
        super().__init__(f"{status} {self.error}: {self.body.get('error_description') or self.body.get('detail')}")


@dataclass(frozen=True)
class TokenGrant:
    access_token: str
    task_id: str
    task: str
    scopes: tuple[str, ...]
    expires_in: int
    raw: dict = field(repr=False, default_factory=dict)


@dataclass
class AgentClient:
    """An agent talking to AgentIAM at `url`. `token_endpoint` is the audience its proofs name: the server's
    RUNTIME_ISSUER + /api/v1/runtime/token, which differs from `url` behind a proxy or on another port."""

    url: str
    token_endpoint: str = ""

    def __post_init__(self) -> None:
        self.url = self.url.rstrip("/")
        self.token_endpoint = self.token_endpoint or self.url + TOKEN_PATH

    def assertion(self, *, client_id: str, private_key, kid: str) -> str:
        return client_assertion(
            client_id=client_id, private_key=private_key, kid=kid, token_endpoint=self.token_endpoint
        )

    def exchange(
        self, proof: str, *, audience: str, scopes: list[str] | tuple[str, ...], task: str,
        proof_type: str = ASSERTION_TYPE, actor_proof: str = "", actor_proof_type: str = ASSERTION_TYPE,
    ) -> TokenGrant:  # fmt: skip
        """RFC 8693 token exchange; raises RuntimeApiError (invalid_scope names missing_scopes and task_id)."""
        form = {
            "grant_type": GRANT_TYPE, "subject_token": proof, "subject_token_type": proof_type,
            "audience": audience, "scope": " ".join(scopes), "task": task,
        }  # fmt: skip
        if actor_proof:
            form |= {"actor_token": actor_proof, "actor_token_type": actor_proof_type}
        status, body = post(self.url + TOKEN_PATH, form=form)
        if status != 200:
            raise RuntimeApiError(status, body)
        return TokenGrant(
            body["access_token"], body["task_id"], body["task"], tuple(body["scope"].split()), body["expires_in"], body
        )

    def complete(self, grant: TokenGrant) -> dict:
        """End the task with one of its own tokens: every token and JIT grant of the task ends with it."""
        status, body = post(f"{self.url}/api/v1/runtime/tasks/{grant.task_id}/complete", bearer=grant.access_token)
        if status != 200:
            raise RuntimeApiError(status, body)
        return body

    def ask_elevation(
        self, credential: str, *, scopes: list[str] | tuple[str, ...], justification: str, duration_seconds: int,
        task: str = "", urgency: str = "normal", scope: dict | None = None,
    ) -> dict:  # fmt: skip
        """Ask for elevation for itself: `credential` is a fresh workload proof (then name `task`: the task_id of
        the invalid_scope answer) or one of its access tokens (its task). Answers the request (id, state)."""
        body: dict[str, Any] = {
            "scopes": list(scopes), "justification": justification, "duration_seconds": duration_seconds,
            "urgency": urgency,
        }  # fmt: skip
        if task:
            body["task"] = task
        if scope:
            body["scope"] = scope
        status, answer = post(self.url + ELEVATION_PATH, json_body=body, bearer=credential)
        if status not in (200, 201):
            raise RuntimeApiError(status, answer)
        return answer

    def elevation(self, credential: str, request_id: str) -> tuple[dict, int | None]:
        """One poll: the request as it stands, and how long to wait before the next poll (None: decided)."""
        status, answer, headers = get(f"{self.url}{ELEVATION_PATH}/{request_id}", bearer=credential)
        if status != 200:
            raise RuntimeApiError(status, answer)
        wait = headers.get("Retry-After")
        return answer, (min(int(wait), MAX_POLL_WAIT) if wait and wait.isdigit() else None)

    def wait_for_decision(self, prove, request_id: str, *, timeout: float = 300, sleep=time.sleep) -> dict:
        """Poll (a new credential from `prove()` each time) until the request is decided or `timeout` passes;
        short answers and Retry-After, never a held connection."""
        deadline = time.monotonic() + timeout
        while True:
            answer, wait = self.elevation(prove(), request_id)
            if wait is None or time.monotonic() + wait > deadline:
                return answer
            sleep(wait)
