"""The machine endpoints of the runtime — token exchange, decide, introspect — as plain Django views.

They skip DRF (and, through RuntimeFastPathMiddleware, the browser middleware): they authenticate callers
themselves (a workload proof, a gateway credential), answer JSON in the house error shape (plus RFC 6749's
`error_description` on the token endpoint) and appear in the OpenAPI schema through lean_endpoint.
"""

from __future__ import annotations

import time
from typing import Any

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST
from drf_spectacular.utils import OpenApiResponse, extend_schema

from agentiam import jsonsafe, refusals, tracecontext
from agentiam.api.errors import error_response
from agentiam.api.schema import lean_endpoint
from agentiam.permissions import public
from identities.runtime import schema
from identities.runtime.credentials import bearer, gateway_prefix
from identities.runtime.middleware import fast_path
from identities.runtime.services import access_requests
from identities.runtime.services import decide as decisions
from identities.runtime.services.exchange import ISSUED_TOKEN_TYPE, ExchangeError, ExchangeRequest, token_exchange

FORM = "application/x-www-form-urlencoded"
MAX_BATCH = 100
MAX_RESOURCE_ATTRIBUTES = 32
ACTIONS = frozenset(schema.ACTIONS)
MULTI_VALUED = frozenset({"audience", "resource"})  # RFC 8693 lets these repeat
TOKEN_PARAMETERS = (
    "grant_type", "subject_token", "subject_token_type", "actor_token", "actor_token_type", "audience", "scope",
    "task", "requested_token_type", "resource", "client_assertion", "client_assertion_type",
)  # fmt: skip
ERR_BODY = "Send a JSON object (or, for the token endpoint, a form)."
ERR_REPEATED = "{name} must be given once."
ERR_NOT_TEXT = "{name} must be text."
ERR_BATCH = f"A batch is a JSON list of 1 to {MAX_BATCH} decide requests."
ERR_NO_CREDENTIAL = "Send the gateway credential as Authorization: Bearer aiamgw_…."
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class BadInput(Exception):
    def __init__(self, detail: str, fields: dict[str, list[str]] | None = None, *, code: str = "invalid"):
        super().__init__(detail)
        self.detail, self.fields, self.code = detail, fields or {}, code


def _json(request: HttpRequest) -> Any:
    """The body within agentiam.jsonsafe's limits; BadInput naming the limit (or the syntax error) if not."""
    try:
        return jsonsafe.loads(request.body)
    except jsonsafe.JsonRefused as error:
        raise BadInput(error.detail, {"body": [error.detail]}, code=error.code) from None


def _token_parameters(request: HttpRequest) -> dict[str, Any]:
    if request.content_type == FORM:
        values = {name: request.POST.getlist(name) for name in TOKEN_PARAMETERS if name in request.POST}
    elif request.content_type == "application/json":
        body = _json(request)
        if not isinstance(body, dict):
            raise ExchangeError("invalid_request", ERR_BODY)
        values = {
            name: body[name] if isinstance(body[name], list) else [body[name]]
            for name in TOKEN_PARAMETERS
            if name in body
        }
    else:
        raise ExchangeError("invalid_request", ERR_BODY)
    params: dict[str, Any] = {}
    for name, given in values.items():
        if not all(isinstance(value, str) for value in given):
            raise ExchangeError("invalid_request", ERR_NOT_TEXT.format(name=name), field=name)
        if name in MULTI_VALUED:
            params[name] = tuple(value for value in given if value)
        elif len(given) != 1:
            raise ExchangeError("invalid_request", ERR_REPEATED.format(name=name), field=name)
        else:
            params[name] = given[0]
    return params


def _oauth_error(request: HttpRequest, error: ExchangeError) -> JsonResponse:
    """Every refusal of the token endpoint: answered in RFC 6749's shape and kept in the security-event log
    (the caller proved nothing we accept, so never in the chained trail)."""
    refusals.probe(request, kind=f"token.{error.error}", detail=error.description)
    body = {
        "error": error.error,
        "error_description": error.description,
        "detail": error.description,
        "fields": error.fields,
        **error.extra,
    }
    response = JsonResponse(body, status=error.status, headers=NO_STORE)
    if error.status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="agentiam-token", error="invalid_client"'
    return response


@lean_endpoint(
    post=extend_schema(
        operation_id="runtime_token",
        summary="Exchange a workload proof for a task-scoped access token (RFC 8693)",
        tags=["runtime"],
        request={FORM: schema.TokenRequest, "application/json": schema.TokenRequest},
        responses={
            200: schema.TokenResponse,
            400: OpenApiResponse(schema.OAuthError, description="invalid_request, invalid_grant, invalid_scope, …"),
            401: OpenApiResponse(schema.OAuthError, description="invalid_client: a client authentication failed."),
        },
    )
)
@fast_path
@public
@csrf_exempt
@require_POST
def token(request: HttpRequest):
    """The token service. Authentication is the proof in the body, so the view is open to anonymous callers."""
    try:
        params = _token_parameters(request)
        issued = token_exchange(ExchangeRequest(authorization=request.headers.get("Authorization", ""), **params))
    except BadInput as error:
        return _oauth_error(request, ExchangeError("invalid_request", error.detail, field="body", limit=error.code))
    except ExchangeError as error:
        return _oauth_error(request, error)
    body = {
        "access_token": issued.access_token,
        "issued_token_type": ISSUED_TOKEN_TYPE,
        "token_type": "Bearer",
        "expires_in": issued.expires_in,
        "scope": " ".join(issued.scopes),
        "task_id": str(issued.task.uuid),
        "task": issued.task.name,
    }
    return JsonResponse(body, headers=NO_STORE)


def _text(value: Any, where: str, limit: int) -> str:
    if not isinstance(value, str) or not value or len(value) > limit:
        raise BadInput(f"{where} must be text of 1 to {limit} characters.", {where: ["Give text."]})
    return value


def _trace(data: dict, prefix: str, header: tracecontext.TraceParent | None) -> tracecontext.TraceParent | None:
    """The call's own `traceparent` field (a malformed one is a 400 naming it), else the request's header."""
    if "traceparent" not in data:
        return header
    parsed = tracecontext.parse(data["traceparent"])
    if parsed is None:
        raise BadInput("Bad traceparent.", {f"{prefix}traceparent": [tracecontext.ERR_TRACEPARENT]})
    return parsed


def _call(data: Any, where: str, header: tracecontext.TraceParent | None = None) -> decisions.Call:
    if not isinstance(data, dict):
        raise BadInput(f"{where or 'The body'} must be a JSON object.", {where or "body": ["Give an object."]})
    prefix = f"{where}." if where else ""
    unknown = sorted(set(data) - {"token", "tool", "action", "resource", "context", "traceparent"})
    if unknown:
        raise BadInput("Unknown fields.", {f"{prefix}{name}": ["Not a decide field."] for name in unknown})
    action = data.get("action")
    if action not in ACTIONS:
        raise BadInput("Unknown action.", {f"{prefix}action": [f"One of {', '.join(schema.ACTIONS)}."]})
    resource = data.get("resource", {})
    if (
        not isinstance(resource, dict)
        or len(resource) > MAX_RESOURCE_ATTRIBUTES
        or not all(isinstance(k, str) and isinstance(v, str) and len(v) <= 1024 for k, v in resource.items())
    ):
        raise BadInput("Bad resource.", {f"{prefix}resource": ["An object of up to 32 attribute → text values."]})
    context = data.get("context", {})
    if not isinstance(context, dict) or set(context) - {"environment", "chain_depth"}:
        raise BadInput("Bad context.", {f"{prefix}context": ["Only environment (text) and chain_depth (number)."]})
    depth = context.get("chain_depth", 0)
    if isinstance(depth, bool) or not isinstance(depth, int) or not 0 <= depth <= 100:
        raise BadInput("Bad chain depth.", {f"{prefix}context.chain_depth": ["A whole number from 0 to 100."]})
    environment = context.get("environment", "")
    if not isinstance(environment, str) or len(environment) > 20:
        raise BadInput("Bad environment.", {f"{prefix}context.environment": ["Text of up to 20 characters."]})
    trace = _trace(data, prefix, header)
    return decisions.Call(
        token=_text(data.get("token"), f"{prefix}token", 8192), tool=_text(data.get("tool"), f"{prefix}tool", 200),
        action=action, resource=resource, environment=environment, chain_depth=depth,
        trace_id=trace.trace_id if trace else "", span_id=trace.parent_id if trace else "",
    )  # fmt: skip


def _unauthenticated(request: HttpRequest, detail: str) -> JsonResponse:
    """A gateway credential missing or refused: 401, and a row in the security-event log."""
    refusals.probe(request, kind="gateway.unauthenticated", detail=detail)
    response = error_response(401, "not_authenticated", detail)
    response["WWW-Authenticate"] = 'Bearer realm="agentiam-gateway"'
    return response


def _credential(request: HttpRequest) -> str | None:
    credential = bearer(request.headers.get("Authorization"))
    return credential if gateway_prefix(credential) else None


@lean_endpoint(
    post=extend_schema(
        operation_id="runtime_decide",
        summary="Decide a tool call (or a batch: a JSON list of requests) for a gateway",
        tags=["runtime"],
        request=schema.DecideRequest,
        responses={200: schema.DecideAnswer},
        description=(
            'A JSON list of up to 100 requests answers {"decisions": [...]} in the same order. The W3C '
            "`traceparent` of the agent's call (as a header, for every request of a batch, or as a field of "
            "one request) is recorded with the decision, which then appears in that trace's chain. A malformed "
            "header is ignored, as W3C Trace Context asks of a receiver; a malformed field is a 400 naming it."
        ),
    )
)
@fast_path
@public
@csrf_exempt
@require_POST
def decide(request: HttpRequest):
    """Only registered gateways, for tokens issued to one of their audiences; every answer is logged."""
    started = time.perf_counter()
    credential = _credential(request)
    if credential is None:
        return _unauthenticated(request, ERR_NO_CREDENTIAL)
    # A traceparent header it cannot parse, a receiver ignores (W3C Trace Context); a bad field is a 400.
    header = tracecontext.parse(request.headers.get("traceparent"))
    try:
        body = _json(request)
        if isinstance(body, list):
            if not 1 <= len(body) <= MAX_BATCH:
                raise BadInput(ERR_BATCH, {"body": [ERR_BATCH]})
            calls = [_call(item, str(index), header) for index, item in enumerate(body)]
        else:
            calls = [_call(body, "", header)]
        answers = decisions.decide(credential=credential, calls=calls, started=started)
    except BadInput as error:
        return error_response(400, error.code, error.detail, error.fields)
    except decisions.GatewayUnauthenticated as error:
        return _unauthenticated(request, str(error))
    if isinstance(body, list):
        return JsonResponse({"decisions": [answer.as_json() for answer in answers]})
    response = JsonResponse(answers[0].as_json())
    if answers[0].retry_after is not None:  # a per-call access request is pending: poll, never hold on
        response["Retry-After"] = str(answers[0].retry_after)
    return response


@lean_endpoint(
    get=extend_schema(
        operation_id="runtime_access_request",
        summary="Where a per-call access request stands (the endpoint a deny's context.access_request names)",
        tags=["runtime"],
        responses={200: schema.AccessRequestAnswer, 404: OpenApiResponse(description="Unknown for this gateway.")},
        description="Pending answers carry retry_after (and a Retry-After header): ask again then, or re-send "
        "the decide request once approved. Only the gateway the call came through sees the request.",
    )
)
@fast_path
@public
@require_GET
def access_request(request: HttpRequest, request_id):
    credential = _credential(request)
    if credential is None:
        return _unauthenticated(request, ERR_NO_CREDENTIAL)
    try:
        answer = access_requests.access_request_status(credential=credential, request_id=request_id)
    except decisions.GatewayUnauthenticated as error:
        return _unauthenticated(request, str(error))
    if answer is None:
        return error_response(404, "not_found", "No such access request for this gateway.")
    response = JsonResponse(answer, headers=NO_STORE)
    if "retry_after" in answer:
        response["Retry-After"] = str(answer["retry_after"])
    return response


@lean_endpoint(
    post=extend_schema(
        operation_id="runtime_introspect",
        summary="Introspect an access token (RFC 7662) for a gateway",
        tags=["runtime"],
        request={FORM: schema.IntrospectRequest, "application/json": schema.IntrospectRequest},
        responses={200: schema.IntrospectAnswer},
    )
)
@fast_path
@public
@csrf_exempt
@require_POST
def introspect(request: HttpRequest):
    """active: false for revoked, expired, unknown or foreign tokens, completed tasks, inactive identities."""
    credential = _credential(request)
    if credential is None:
        return _unauthenticated(request, ERR_NO_CREDENTIAL)
    try:
        if request.content_type == FORM:
            given = request.POST.getlist("token")
            value = given[0] if len(given) == 1 else None
        else:
            body = _json(request)
            value = body.get("token") if isinstance(body, dict) else None
        if not isinstance(value, str) or not value:
            raise BadInput("token is required (once).", {"token": ["Give the access token."]})
        answer = decisions.introspect(credential=credential, token=value)
    except BadInput as error:
        return error_response(400, error.code, error.detail, error.fields)
    except decisions.GatewayUnauthenticated as error:
        return _unauthenticated(request, str(error))
    return JsonResponse(answer, headers=NO_STORE)


for _view in (decide, introspect, access_request):
    _view.cls.authentication_classes = [schema.GatewayCredentialAuthentication]
