"""OpenAPI descriptions of the lean runtime endpoints (documentation only: the views parse requests
themselves), and the gateway credential as a security scheme."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import serializers
from rest_framework.authentication import BaseAuthentication

from identities.runtime import trust
from identities.runtime.services.exchange import GRANT_TYPE, ISSUED_TOKEN_TYPE

ACTIONS = ["read", "write", "admin", "execute"]


class GatewayCredentialAuthentication(BaseAuthentication):
    """Names the gateway credential in the schema; the lean views check it themselves."""

    def authenticate(self, request):
        return None

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="agentiam-gateway"'


class GatewayCredentialScheme(OpenApiAuthenticationExtension):
    target_class = GatewayCredentialAuthentication
    name = "gatewayCredential"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A registered gateway's credential (aiamgw_…), shown once when the gateway is registered.",
        }


class TokenRequest(serializers.Serializer):
    grant_type = serializers.ChoiceField(choices=[GRANT_TYPE])
    subject_token = serializers.CharField(help_text="The proof of the party the call is made for.")
    subject_token_type = serializers.ChoiceField(choices=list(trust.PROOF_TYPES))
    actor_token = serializers.CharField(required=False, help_text="The acting agent's own proof (delegation).")
    actor_token_type = serializers.CharField(
        required=False, help_text="Required with actor_token; as subject_token_type."
    )
    audience = serializers.CharField(help_text="One audience served by a registered gateway.")
    scope = serializers.CharField(help_text="Space-separated tool_key:action, e.g. `github.read_repo:read`.")
    task = serializers.CharField(help_text="A task name, unique per identity; the first exchange opens the task.")
    requested_token_type = serializers.CharField(required=False, help_text=f"Only {ISSUED_TOKEN_TYPE}.")
    client_assertion_type = serializers.ChoiceField(choices=[trust.ASSERTION_TYPE], required=False)
    client_assertion = serializers.CharField(required=False, help_text="Optional RFC 7523 client authentication.")


class TokenResponse(serializers.Serializer):
    access_token = serializers.CharField(help_text="EdDSA-signed JWT, typ at+jwt.")
    issued_token_type = serializers.ChoiceField(choices=[ISSUED_TOKEN_TYPE])
    token_type = serializers.ChoiceField(choices=["Bearer"])
    expires_in = serializers.IntegerField()
    scope = serializers.CharField()
    task_id = serializers.UUIDField(help_text="Complete the task with POST /api/v1/runtime/tasks/{task_id}/complete.")
    task = serializers.CharField()


class OAuthError(serializers.Serializer):
    error = serializers.CharField(help_text="RFC 6749 / 8693 code: invalid_request, invalid_grant, invalid_scope, …")
    error_description = serializers.CharField()
    detail = serializers.CharField()
    fields = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))
    proof_error = serializers.CharField(required=False, help_text="Why the proof was refused (e.g. `expired`).")
    missing_scopes = serializers.ListField(child=serializers.CharField(), required=False)

    class Meta:
        ref_name = "OAuthError"


class DecideContext(serializers.Serializer):
    environment = serializers.CharField(required=False)
    chain_depth = serializers.IntegerField(required=False, min_value=0)


class DecideRequest(serializers.Serializer):
    token = serializers.CharField(help_text="The agent's AgentIAM access token.")
    tool = serializers.CharField(help_text="The tool's key, e.g. github.create_pull_request.")
    action = serializers.ChoiceField(choices=ACTIONS)
    resource = serializers.DictField(child=serializers.CharField(), required=False, help_text="Matched against scopes.")
    context = DecideContext(required=False)
    traceparent = serializers.CharField(
        required=False,
        help_text="The agent call's W3C traceparent (00-<trace id>-<span id>-<flags>); or send the header.",
    )


class AccessRequestContext(serializers.Serializer):
    id = serializers.UUIDField(help_text="The per-call access request (the same one while it is pending).")
    state = serializers.ChoiceField(choices=["pending"])
    endpoint = serializers.URLField(help_text="GET it with the gateway credential to see where it stands.")
    form_url = serializers.URLField(help_text="Where a person approves or denies it in the browser.")
    expires_at = serializers.DateTimeField(help_text="It lapses unanswered then; the next call asks again.")
    retry_after = serializers.IntegerField(help_text="Seconds to wait before asking again (also Retry-After).")


class DecideContext(serializers.Serializer):
    evaluation_id = serializers.UUIDField(help_text="This decision's id.")
    access_request = AccessRequestContext()


class DecideAnswer(serializers.Serializer):
    decision = serializers.ChoiceField(choices=["allow", "deny"])
    reasons = serializers.ListField(child=serializers.CharField(), help_text="Rule ids (and runtime checks).")
    decision_id = serializers.UUIDField()
    context = DecideContext(
        required=False,
        help_text="Only on a per-call re-authorisation deny (after the AuthZEN Access Request and Approval draft).",
    )


class AccessRequestAnswer(serializers.Serializer):
    id = serializers.UUIDField()
    state = serializers.ChoiceField(choices=["pending", "approved", "denied", "used", "lapsed"])
    tool = serializers.CharField()
    action = serializers.CharField()
    evaluation_id = serializers.UUIDField()
    expires_at = serializers.DateTimeField()
    decided_at = serializers.DateTimeField(allow_null=True)
    valid_until = serializers.DateTimeField(
        allow_null=True, help_text="An approval allows one matching call until then."
    )
    retry_after = serializers.IntegerField(required=False)


class DecideBatchAnswer(serializers.Serializer):
    decisions = DecideAnswer(many=True)


class IntrospectRequest(serializers.Serializer):
    token = serializers.CharField()
    token_type_hint = serializers.CharField(required=False)


class IntrospectAnswer(serializers.Serializer):
    active = serializers.BooleanField()
    scope = serializers.CharField(required=False)
    client_id = serializers.CharField(required=False)
    sub = serializers.CharField(required=False)
    aud = serializers.CharField(required=False)
    iss = serializers.CharField(required=False)
    exp = serializers.IntegerField(required=False)
    iat = serializers.IntegerField(required=False)
    jti = serializers.CharField(required=False)
    task_id = serializers.UUIDField(required=False)
    act = serializers.DictField(required=False)
    token_type = serializers.CharField(required=False)


class TaskCompleteAnswer(serializers.Serializer):
    task_id = serializers.UUIDField()
    state = serializers.CharField()
    tokens_revoked = serializers.IntegerField()
    grants_ended = serializers.IntegerField()
    entitlements_revoked = serializers.IntegerField()


class JwksKey(serializers.Serializer):
    kty = serializers.CharField()
    crv = serializers.CharField()
    x = serializers.CharField()
    kid = serializers.CharField()
    alg = serializers.CharField()
    use = serializers.CharField()


class Jwks(serializers.Serializer):
    keys = JwksKey(many=True)
