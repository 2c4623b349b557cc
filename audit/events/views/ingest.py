"""Ingest endpoints: `POST /api/v1/events` (our JSON shape) and `POST /v1/traces` (OTLP/HTTP, protobuf or JSON).

Plain views on the lean path (STYLE.md #9; `audit.events.middleware`): they authenticate the sender themselves
(an ingest key or the identity's own access token), decompress `Content-Encoding: gzip` within the JSON
size limit, and answer in their protocol's shape — ours (`{"error", "detail", "fields"}` for a refusal), or
OTLP's (`ExportTraceServiceResponse` with partial success, `google.rpc.Status` for a refusal) in the
request's encoding.
"""

from __future__ import annotations

import zlib

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import OpenApiResponse, extend_schema
from google.protobuf import json_format
from google.rpc import code_pb2, status_pb2

from agentiam import jsonsafe, refusals
from agentiam.api.errors import error_response
from agentiam.api.schema import ErrorSerializer, lean_endpoint
from agentiam.permissions import public
from audit.events import schema, services
from audit.events.ingest import otlp, shape
from audit.events.ingest.auth import Unauthenticated, authenticate

ERR_METHOD = "Only POST is accepted here."
ERR_MEDIA = "Send {expected}."
ERR_ENCODING = "Content-Encoding must be gzip or absent."
ERR_GZIP = "The body is not valid gzip."
ERR_TOO_LARGE = "The body is larger than {limit} bytes once decompressed, the most accepted in one request."
ERR_ALL_INVALID = "No event in the request is valid; nothing was written."

JSON_TYPES = ("application/json",)
PROTOBUF_TYPES = ("application/x-protobuf", "application/protobuf")


class BodyRefused(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _limit() -> int:
    return settings.JSON_MAX_BYTES


def body_of(request: HttpRequest) -> bytes:
    """The request body, gunzipped if it says so, never more than the limit (a gzip bomb stops there)."""
    encoding = request.headers.get("Content-Encoding", "").strip().lower()
    raw = request.body
    limit = _limit()
    if encoding in ("", "identity"):
        if len(raw) > limit:
            raise BodyRefused(413, "request_too_large", ERR_TOO_LARGE.format(limit=limit))
        return raw
    if encoding != "gzip":
        raise BodyRefused(415, "unsupported_encoding", ERR_ENCODING)
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        body = inflater.decompress(raw, limit + 1)
    except zlib.error:
        raise BodyRefused(400, "invalid_gzip", ERR_GZIP) from None
    if len(body) > limit or inflater.unconsumed_tail:
        raise BodyRefused(413, "request_too_large", ERR_TOO_LARGE.format(limit=limit))
    if not inflater.eof:
        raise BodyRefused(400, "invalid_gzip", ERR_GZIP)
    return body


def _unauthenticated_json(request: HttpRequest, detail: str) -> JsonResponse:
    refusals.probe(request, kind="ingest.unauthenticated", detail=detail)
    response = error_response(401, "not_authenticated", detail)
    response["WWW-Authenticate"] = 'Bearer realm="agentiam-ingest"'
    return response


# --- our JSON shape -----------------------------------------------------------------------------------------------


@lean_endpoint(
    post=extend_schema(
        operation_id="events_ingest",
        summary="Ingest a batch of action events (our JSON shape)",
        tags=["events"],
        request=schema.EventsIn,
        responses={
            200: schema.EventsAnswer,
            400: OpenApiResponse(ErrorSerializer, description="Not a batch of events, or no event valid."),
            401: OpenApiResponse(ErrorSerializer, description="No ingest key or access token, or a bad one."),
            413: OpenApiResponse(ErrorSerializer, description="Too large, or too many events."),
            415: OpenApiResponse(ErrorSerializer, description="Not JSON, or an encoding other than gzip."),
        },
        description=(
            "Authenticated by an ingest key or the identity's own access token (`Authorization: Bearer …`). "
            "Invalid events are reported by index and field; the valid ones are kept. Events for identities "
            "the credential may not write for, or that match no identity, are kept in quarantine."
        ),
    )
)
@public
@csrf_exempt
def events_ingest(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        response = error_response(405, "method_not_allowed", ERR_METHOD)
        response["Allow"] = "POST"
        return response
    now = timezone.now()
    try:
        caller = authenticate(request.headers.get("Authorization"), now)
    except Unauthenticated as error:
        return _unauthenticated_json(request, error.message)
    if (request.content_type or "") not in JSON_TYPES:
        return error_response(415, "unsupported_media_type", ERR_MEDIA.format(expected="application/json"))
    try:
        body = body_of(request)
        parsed = shape.parse(jsonsafe.loads(body), now=now, may_hold_nul=b"\\u0000" in body)
    except BodyRefused as error:
        return error_response(error.status, error.code, error.message)
    except jsonsafe.JsonRefused as error:
        return error_response(400, error.code, error.detail, {"body": [error.detail]})
    except shape.EnvelopeRefused as error:
        code = "too_many_events" if error.status == 413 else "invalid"
        return error_response(error.status, code, error.message, {"events": [error.message]})
    fields = {
        f"events.{index}{'.' + name if name else ''}": messages
        for index, errors in parsed.errors.items()
        for name, messages in errors.items()
    }
    if not parsed.steps:
        return error_response(400, "invalid", ERR_ALL_INVALID, fields)
    written = services.events_ingest(caller=caller, steps=[step for _, step in parsed.steps], now=now)
    return JsonResponse(
        {
            "accepted": written.accepted,
            "duplicates": written.duplicates,
            "quarantined": written.quarantined,
            "rejected": [{"index": index, "fields": errors} for index, errors in sorted(parsed.errors.items())],
        }
    )


# --- OTLP/HTTP ----------------------------------------------------------------------------------------------------


def _status(http: int, code: int, message: str, *, as_json: bool) -> HttpResponse:
    status = status_pb2.Status(code=code, message=message)
    if as_json:
        return HttpResponse(
            json_format.MessageToJson(status, indent=None), status=http, content_type="application/json"
        )
    return HttpResponse(status.SerializeToString(), status=http, content_type="application/x-protobuf")


_GRPC_CODE = {400: code_pb2.INVALID_ARGUMENT, 413: code_pb2.RESOURCE_EXHAUSTED, 415: code_pb2.INVALID_ARGUMENT}


@public
@csrf_exempt
def traces_ingest(request: HttpRequest) -> HttpResponse:
    content_type = request.content_type or ""
    as_json = content_type in JSON_TYPES
    if request.method != "POST":
        response = _status(405, code_pb2.UNIMPLEMENTED, ERR_METHOD, as_json=as_json)
        response["Allow"] = "POST"
        return response
    now = timezone.now()
    try:
        caller = authenticate(request.headers.get("Authorization"), now)
    except Unauthenticated as error:
        refusals.probe(request, kind="ingest.unauthenticated", detail=error.message)
        response = _status(401, code_pb2.UNAUTHENTICATED, error.message, as_json=as_json)
        response["WWW-Authenticate"] = 'Bearer realm="agentiam-ingest"'
        return response
    if not as_json and content_type not in PROTOBUF_TYPES:
        expected = "application/x-protobuf or application/json"
        return _status(415, code_pb2.INVALID_ARGUMENT, ERR_MEDIA.format(expected=expected), as_json=False)
    try:
        body = body_of(request)
        message = otlp.decode_json(body) if as_json else otlp.decode_protobuf(body)
        decoded = otlp.steps_of(message, now=now)
    except BodyRefused as error:
        return _status(
            error.status, _GRPC_CODE.get(error.status, code_pb2.INVALID_ARGUMENT), error.message, as_json=as_json
        )
    except otlp.OtlpRefused as error:
        return _status(
            error.status, _GRPC_CODE.get(error.status, code_pb2.INVALID_ARGUMENT), error.message, as_json=as_json
        )
    if decoded.steps:
        services.events_ingest(caller=caller, steps=decoded.steps, now=now)
    payload, answer_type = otlp.response(decoded.rejected, decoded.messages, as_json=as_json)
    return HttpResponse(payload, status=200, content_type=answer_type)
