"""/api/v1/runtime/elevation-requests: the agent asking for elevation for itself at run time, and polling
for the outcome. Routed from agentiam/urls.py (identities never imports reviews).

The agent authenticates as itself, never as a person: `Authorization: Bearer <token>` with either one of its
AgentIAM access tokens (a task token: the request is for that task unless `task` names another of its own)
or a workload proof the token endpoint accepts (a JWT-SVID, an OIDC ID token, or a client assertion whose
audience is the token endpoint; then `task` is required — the `task_id` an `invalid_scope` answer carried,
or a name). Polling answers at once, with `Retry-After` while the request is pending: no held connections."""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed, NotFound
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from agentiam import refusals
from agentiam.adapters import ServiceErrors
from agentiam.errors import invalid
from identities.models import Identity
from identities.runtime import access_tokens, proofs, trust
from identities.runtime.agent_auth import AgentPrincipal, AgentTokenAuthentication
from reviews import services
from reviews.models import ElevationRequest, RequestState, Urgency
from reviews.services.requests import MAX_JUSTIFICATION

from . import inputs
from .requests import CONFLICT, task_of, with_details
from .serializers import ElevationRequestSerializer, state_now

POLL_SECONDS = 5  # what Retry-After asks a polling agent to wait while a request is pending
ERR_TASK_NEEDED = "Name the task (its id from invalid_scope's task_id, or its name)."


class WorkloadProofAuthentication(BaseAuthentication):
    """`Authorization: Bearer <workload proof>`, verified as the token endpoint verifies a subject token."""

    def authenticate(self, request):
        header = get_authorization_header(request).split()
        if len(header) != 2 or header[0].lower() != b"bearer" or header[1].count(b".") != 2:
            return None
        try:
            token = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise AuthenticationFailed("The proof is not ASCII.") from None
        if access_tokens.looks_like_ours(token):
            return None  # an access token: AgentTokenAuthentication's
        try:
            _, identity = trust.verify_proof(token, trust.TOKEN_TYPE_JWT, trust.load_trust(), now=timezone.now())
        except proofs.ProofError as error:
            refusals.probe(request, kind=f"elevation.proof.{error.code}", detail=error.reason)
            raise AuthenticationFailed(f"Workload proof refused: {error.reason}") from None
        return AgentPrincipal(identity.pk, f"workload proof of {identity.name}"), None

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="agentiam-agent"'


class WorkloadProofScheme(OpenApiAuthenticationExtension):
    target_class = WorkloadProofAuthentication
    name = "workloadProof"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "A workload proof: a JWT-SVID, an OIDC ID token or a client assertion.",
        }


class IsAgent(BasePermission):
    """An identity authenticated as itself (its access token or its workload proof); persons are refused."""

    def has_permission(self, request, view) -> bool:
        return isinstance(request.user, AgentPrincipal)


class AgentRequestSerializer(serializers.Serializer):
    scopes = inputs._scopes()
    scope = inputs._scope(required=False, default=dict)
    task = serializers.CharField(
        max_length=200, required=False, help_text="The task's id or name; with a task token, that token's task."
    )
    justification = serializers.CharField(max_length=MAX_JUSTIFICATION, trim_whitespace=False)
    duration_seconds = serializers.IntegerField(min_value=1, max_value=inputs.MAX_SECONDS)
    urgency = serializers.ChoiceField(choices=Urgency.choices, default=Urgency.NORMAL)


def _answer(found: ElevationRequest, code=status.HTTP_200_OK) -> Response:
    fresh = with_details(ElevationRequest.objects.all()).get(pk=found.pk)
    headers = {"Retry-After": str(POLL_SECONDS)} if state_now(fresh) == RequestState.PENDING else {}
    return Response(ElevationRequestSerializer(fresh).data, status=code, headers=headers)


class AgentView(ServiceErrors, APIView):
    authentication_classes = [WorkloadProofAuthentication, AgentTokenAuthentication]
    permission_classes = [IsAgent]

    def identity(self) -> Identity:
        return Identity.objects.get(pk=self.request.user.identity_id)


class AgentRequestCreateView(AgentView):
    @extend_schema(
        operation_id="runtime_elevation_request_create",
        summary="The agent asks for elevation for itself (its access token or its workload proof)",
        tags=["runtime"],
        request=AgentRequestSerializer,
        responses={
            201: ElevationRequestSerializer,
            200: OpenApiResponse(ElevationRequestSerializer, description="Merged into the same pending request."),
            409: CONFLICT,
        },
        description="Poll GET …/{id} for the outcome; `Retry-After` says how long to wait while it is pending.",
    )
    def post(self, request):
        given = AgentRequestSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        body = dict(given.validated_data)
        identity = self.identity()
        task = body.pop("task", None) or request.user.task_id
        if not task:
            raise invalid("task", ERR_TASK_NEEDED)
        started = timezone.now()
        made = services.request_create(
            identity=identity, agent=identity, task=task_of(identity, task), request=request, **body
        )
        return _answer(made, status.HTTP_200_OK if made.created_at < started else status.HTTP_201_CREATED)


class AgentRequestDetailView(AgentView):
    @extend_schema(
        operation_id="runtime_elevation_request_poll",
        summary="Poll one of the agent's own elevation requests: its state, who decided, what was granted",
        tags=["runtime"],
        responses={200: ElevationRequestSerializer},
    )
    def get(self, request, request_id):
        found = ElevationRequest.objects.filter(uuid=request_id, identity_id=request.user.identity_id).first()
        if found is None:
            raise NotFound()
        return _answer(found)


__all__ = ["AgentRequestCreateView", "AgentRequestDetailView"]
