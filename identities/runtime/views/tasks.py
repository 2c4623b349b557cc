"""POST /api/v1/runtime/tasks/{task_id}/complete: the task's own agent (with one of its access tokens), an
owner of its identity, or a security analyst (API token or session) ends the task, its tokens and grants."""

from __future__ import annotations

from dataclasses import dataclass

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import extend_schema
from rest_framework.authentication import BaseAuthentication, SessionAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed, NotFound
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from agentiam.adapters import ServiceErrors
from identities import rules
from identities.api_tokens import ApiTokenAuthentication
from identities.models import Identity, Task
from identities.models.registry import standing
from identities.rules import Right
from identities.runtime import access_tokens
from identities.runtime.lookups import at, lookup
from identities.runtime.schema import TaskCompleteAnswer
from identities.runtime.services.ending import task_end

ERR_AGENT_TOKEN = "The access token is invalid, expired or revoked."  # noqa: S105 - a message


@dataclass
class AgentPrincipal:
    """The identity an agent access token speaks for (not a person: it has no roles)."""

    identity_id: int
    label: str
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
        from django.utils import timezone

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
        return AgentPrincipal(row["identity_id"], f"agent token {parsed.jti}"), parsed

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="api"'


class AgentTokenScheme(OpenApiAuthenticationExtension):
    target_class = AgentTokenAuthentication
    name = "agentAccessToken"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "bearerFormat": "JWT", "description": "An AgentIAM access token."}


class TaskIdentityOwnerOrAnalyst(BasePermission):
    """Authenticated callers only; which task they may complete is decided on the task itself."""

    def has_permission(self, request, view) -> bool:
        return bool(request.user and request.user.is_authenticated)


class TaskCompleteView(ServiceErrors, APIView):
    authentication_classes = [AgentTokenAuthentication, ApiTokenAuthentication, SessionAuthentication]
    permission_classes = [TaskIdentityOwnerOrAnalyst]

    @extend_schema(
        operation_id="runtime_task_complete",
        summary="Complete a task: end its tokens and JIT grants at once",
        tags=["runtime"],
        request=None,
        responses={200: TaskCompleteAnswer},
    )
    def post(self, request, task_id):
        task = Task.objects.select_related("identity").filter(uuid=task_id).first()
        user = request.user
        if isinstance(user, AgentPrincipal):
            if task is None or task.identity_id != user.identity_id:
                raise NotFound()
            actor, agent_label = None, user.label
        else:
            if task is None or not Identity.objects.restrict(user).filter(pk=task.identity_id).exists():
                raise NotFound()
            rules.may(Right.COMPLETE_TASK, standing(task.identity, user)).check()
            actor, agent_label = user, None
        counts = task_end(task=task, actor=actor, agent_label=agent_label, request=request)
        body = {
            "task_id": str(task.uuid),
            "state": Task.State.COMPLETED,
            "tokens_revoked": counts["tokens"],
            "grants_ended": counts["grants"],
            "entitlements_revoked": counts["entitlements"],
        }
        return Response(body)
