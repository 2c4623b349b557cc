"""An agent authenticating to the API as itself with one of its AgentIAM access tokens (a task token):
`Authorization: Bearer <access token>`, checked against the clock and the database on every request (revoked,
expired, or signed by a compromised key: refused). Task completion uses it, and so does the agent asking
for elevation for itself (reviews). The principal is an identity, not a person: it has no roles."""

from __future__ import annotations

from dataclasses import dataclass

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed

from identities.runtime import access_tokens
from identities.runtime.lookups import at, lookup

__all__ = ["ERR_AGENT_TOKEN", "AgentPrincipal", "AgentTokenAuthentication", "AgentTokenScheme"]

ERR_AGENT_TOKEN = "The access token is invalid, expired or revoked."  # noqa: S105 - a message


@dataclass
class AgentPrincipal:
    """The identity an agent access token speaks for (not a person: it has no roles); `task_id` is the
    public id of the token's task."""

    identity_id: int
    label: str
    task_id: str = ""
    is_authenticated: bool = True
    is_active: bool = True
    pk = None


class AgentTokenAuthentication(BaseAuthentication):
    """`Authorization: Bearer <AgentIAM access token>`, checked against the clock and the database."""

    def authenticate(self, request):
        header = get_authorization_header(request).split()
        if len(header) != 2 or header[0].lower() != b"bearer" or header[1].count(b".") != 2:
            return None  # not a JWT: another authenticator's credential
        try:
            parsed = access_tokens.parse(header[1].decode("ascii"))
        except (UnicodeDecodeError, access_tokens.InvalidAccessToken):
            raise AuthenticationFailed(ERR_AGENT_TOKEN) from None
        now = timezone.now()
        row = lookup(prefix="", jtis=[parsed.jti], tools=[], now=now).tokens.get(parsed.jti)
        if (
            row is None
            or row["kid"] != parsed.kid
            or not access_tokens.signature_valid(parsed, row["public_key"])
            or row["revoked"]
            or row["key_status"] == "compromised"
            or now >= at(row["exp"])
        ):
            raise AuthenticationFailed(ERR_AGENT_TOKEN)
        task_id = str(parsed.claims.get("task_id", ""))
        return AgentPrincipal(row["identity_id"], f"agent token {parsed.jti}", task_id), parsed

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="api"'


class AgentTokenScheme(OpenApiAuthenticationExtension):
    target_class = AgentTokenAuthentication
    name = "agentAccessToken"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "bearerFormat": "JWT", "description": "An AgentIAM access token."}
