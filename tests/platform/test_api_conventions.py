"""API conventions: one error shape for every 4xx under /api/ (DRF and Django level alike), oversized bodies,
NUL characters and malformed JSON refused without a 500, cursor pagination, the root listing the resources,
and a public OpenAPI schema with no drf-spectacular warnings (lean plain-Django views included)."""

from __future__ import annotations

import json

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import Client, RequestFactory
from django.urls import path
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

import agentiam.urls
from agentiam.api.errors import CSRF_FAILED, NUL_REFUSED, ApiInputError
from agentiam.api.schema import lean_endpoint
from agentiam.permissions import Role, public
from agentiam.views import csrf_failure
from audit.trail import audit_record_now
from identities.services import api_token_create
from tests.cast import check_access
from tests.support import sign_in

pytestmark = pytest.mark.django_db

SIX_MB = 6 * 1024 * 1024
AUDIT_READERS = [Role.ADMINISTRATOR, Role.COMPLIANCE_OFFICER, Role.SECURITY_ANALYST, Role.AUDITOR]


# --- A test URL configuration: the project's, plus small views that exercise the conventions -----------


class EchoBody(serializers.Serializer):
    name = serializers.CharField(max_length=20)
    scope = serializers.DictField(child=serializers.CharField(max_length=5), required=False)

    def validate(self, data):
        if data.get("name") == "forbidden":
            raise serializers.ValidationError("This name is reserved.")
        return data


class EchoView(APIView):
    permission_classes = [AllowAny]
    authentication_classes = []

    @extend_schema(request=EchoBody, responses=EchoBody, tags=["test"])
    def post(self, request):
        body = EchoBody(data=request.data)
        body.is_valid(raise_exception=True)
        return Response(body.validated_data)


@lean_endpoint(
    post=extend_schema(
        operation_id="lean_echo",
        summary="A plain Django view described in the schema",
        tags=["test"],
        request=inline_serializer("LeanEchoRequest", {"value": serializers.CharField()}),
        responses=inline_serializer("LeanEchoAnswer", {"value": serializers.CharField()}),
    )
)
@public
def lean_echo(request):
    from django.http import JsonResponse

    try:
        data = json.loads(request.body)
    except ValueError:
        raise ApiInputError("The body must be JSON.", code="parse_error") from None
    return JsonResponse({"value": data.get("value")})


@public
def explode(request):
    raise RuntimeError("a bug, not bad input")


urlpatterns = [
    path("api/v1/test-echo/", EchoView.as_view(), name="test-echo"),
    path("api/v1/test-lean/", lean_echo, name="test-lean"),
    path("api/v1/test-explode/", explode, name="test-explode"),
    *agentiam.urls.urlpatterns,
]
handler400, handler403 = agentiam.urls.handler400, agentiam.urls.handler403
handler404, handler500 = agentiam.urls.handler404, agentiam.urls.handler500

with_test_views = pytest.mark.urls(__name__)


def assert_error_shape(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error", "detail", "fields"}
    assert body["error"] == code
    assert isinstance(body["detail"], str) and body["detail"]
    assert isinstance(body["fields"], dict)
    return body


@pytest.fixture
def auditor(cast):
    return cast.auditor


# --- Authentication and the root -------------------------------------------------------------------------


def test_the_token_class_comes_first_so_anonymous_calls_get_401():
    assert settings.REST_FRAMEWORK["DEFAULT_AUTHENTICATION_CLASSES"][0] == (
        "identities.api_tokens.ApiTokenAuthentication"
    )


def test_an_anonymous_call_to_the_api_root_gets_401_in_the_error_shape(client):
    response = client.get("/api/v1/")
    assert_error_shape(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_a_bad_token_gets_401_in_the_error_shape(client):
    response = client.get("/api/v1/", HTTP_AUTHORIZATION="Bearer aiam_not_a_real_token")
    assert_error_shape(response, 401, "authentication_failed")


def test_the_api_root_lists_the_registered_resources_and_the_schema(client, auditor):
    sign_in(client, auditor)
    body = client.get("/api/v1/").json()
    assert body["version"] == "1"
    resources = body["resources"]
    # Read from the URL configuration: every app's collection is there, detail routes are not.
    assert resources["audit/entries"] == "http://testserver/api/v1/audit/entries/"
    assert {"people", "tokens", "me"} <= set(resources)
    assert not any("{" in url or url.endswith("/api/v1/") for url in resources.values())
    assert body["schema"].endswith("/api/schema/") and body["docs"].endswith("/api/docs/")


@with_test_views
def test_the_api_root_also_lists_lean_endpoints_added_to_the_url_configuration(client, auditor):
    sign_in(client, auditor)
    resources = client.get("/api/v1/").json()["resources"]
    assert resources["test-lean"] == "http://testserver/api/v1/test-lean/"


def test_an_api_token_reaches_the_root(client, auditor):
    _token, secret = api_token_create(actor=auditor, name="ci")
    response = client.get("/api/v1/", HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert response.status_code == 200


def test_the_audit_entries_endpoint_is_for_the_see_everything_roles(cast, client_factory):
    check_access(client_factory, "/api/v1/audit/entries/", cast=cast, allowed=AUDIT_READERS)


def test_nobody_may_write_the_audit_trail_through_the_api(client, cast):
    sign_in(client, cast.administrator)
    response = client.post("/api/v1/audit/entries/", {"action": "x"}, content_type="application/json")
    assert_error_shape(response, 403, "permission_denied")


# --- Django-level answers under /api/ --------------------------------------------------------------------


def test_an_unknown_api_path_gets_404_json(client):
    body = assert_error_shape(client.get("/api/v1/no-such-thing/"), 404, "not_found")
    assert body["fields"] == {}
    assert_error_shape(client.get("/api/nothing-here"), 404, "not_found")


def test_an_unknown_path_outside_the_api_gets_an_html_page(client):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
    assert b"Page not found" in response.content


def test_a_missing_object_gets_404_json(client, auditor):
    sign_in(client, auditor)
    response = client.get("/api/v1/audit/entries/00000000-0000-0000-0000-000000000000/")
    assert_error_shape(response, 404, "not_found")


def test_a_method_the_endpoint_lacks_gets_405_json_with_allow(client, auditor):
    sign_in(client, auditor)
    response = client.delete("/api/v1/")
    assert_error_shape(response, 405, "method_not_allowed")
    assert "GET" in response["Allow"]


def test_a_six_megabyte_body_gets_413_json(client):
    response = client.post("/api/v1/", data=b"{" + b" " * SIX_MB + b"}", content_type="application/json")
    body = assert_error_shape(response, 413, "request_too_large")
    assert str(settings.DATA_UPLOAD_MAX_MEMORY_SIZE) in body["detail"]


def test_a_six_megabyte_form_outside_the_api_gets_an_html_413(client):
    response = client.post(
        "/accounts/login/", data=b"username=" + b"a" * SIX_MB, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 413
    assert response["Content-Type"].startswith("text/html")
    assert b"Request too large" in response.content


# --- NUL characters --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("/api/v1/audit/entries/?actor=%00", "actor"),
        ("/api/v1/audit/entries/?q=ok&action=role%00grant", "action"),
        ("/api/v1/%00/", "path"),
    ],
)
def test_a_nul_character_in_the_query_or_path_gets_400_naming_the_input(client, url, field):
    body = assert_error_shape(client.get(url), 400, "nul_character")
    assert body["fields"] == {field: [NUL_REFUSED]}


@with_test_views
@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ('{"name": "a\\u0000b"}', "name"),
        ('{"na\\u0000me": "x"}', "na\\u0000me"),
        ('{"name": "ok", "scope": {"repo": ["x", "\\u0000"]}}', "scope.repo.1"),
    ],
)
def test_a_nul_character_anywhere_in_a_json_body_gets_400_naming_the_field(client, payload, field):
    response = client.post("/api/v1/test-echo/", data=payload, content_type="application/json")
    body = assert_error_shape(response, 400, "nul_character")
    assert body["fields"] == {field: [NUL_REFUSED]}


@with_test_views
def test_an_escaped_backslash_before_u0000_is_ordinary_text_and_accepted(client):
    response = client.post("/api/v1/test-echo/", data='{"name": "a\\\\u0000"}', content_type="application/json")
    assert response.status_code == 200
    assert response.json()["name"] == "a\\u0000"


def test_a_nul_character_in_a_form_field_outside_the_api_gets_an_html_400(client):
    response = client.post("/accounts/login/", {"username": "dana\x00", "password": "x"})
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")
    assert b"NUL characters" in response.content and b"username" in response.content


def test_a_nul_character_in_a_form_posted_to_the_api_gets_400_json(client):
    response = client.post("/api/v1/tokens/", {"name": "x\x00"})
    body = assert_error_shape(response, 400, "nul_character")
    assert body["fields"] == {"name": [NUL_REFUSED]}


# --- Malformed and invalid input --------------------------------------------------------------------------


@with_test_views
def test_malformed_json_gets_400_with_the_shape(client):
    response = client.post("/api/v1/test-echo/", data='{"name": ', content_type="application/json")
    assert_error_shape(response, 400, "parse_error")


def test_malformed_json_to_a_real_endpoint_gets_400_not_500(client, auditor):
    sign_in(client, auditor)
    response = client.post("/api/v1/tokens/", data="{not json", content_type="application/json")
    assert_error_shape(response, 400, "parse_error")


@with_test_views
def test_invalid_fields_are_named_in_fields_with_dotted_paths_for_nested_ones(client):
    payload = {"name": "x" * 30, "scope": {"repo": "toolong"}}
    response = client.post("/api/v1/test-echo/", data=payload, content_type="application/json")
    body = assert_error_shape(response, 400, "invalid")
    assert set(body["fields"]) == {"name", "scope.repo"}
    assert "20 characters" in body["fields"]["name"][0]


@with_test_views
def test_a_form_wide_validation_error_becomes_the_detail(client):
    response = client.post("/api/v1/test-echo/", data={"name": "forbidden"}, content_type="application/json")
    body = assert_error_shape(response, 400, "invalid")
    assert body["detail"] == "This name is reserved." and body["fields"] == {}


@with_test_views
def test_a_lean_view_refuses_bad_input_with_the_shape_through_api_input_error(client):
    response = client.post("/api/v1/test-lean/", data="nope", content_type="application/json")
    assert_error_shape(response, 400, "parse_error")
    ok = client.post("/api/v1/test-lean/", data='{"value": "v"}', content_type="application/json")
    assert ok.json() == {"value": "v"}


@with_test_views
def test_a_server_error_under_the_api_is_json_too():
    response = Client(raise_request_exception=False).get("/api/v1/test-explode/")
    body = assert_error_shape(response, 500, "server_error")
    assert "bug" not in body["detail"]  # never the exception's text


def test_an_invalid_filter_value_gets_400_naming_the_field(client, auditor):
    sign_in(client, auditor)
    body = assert_error_shape(client.get("/api/v1/audit/entries/?since=yesterday"), 400, "invalid")
    assert list(body["fields"]) == ["since"]


# --- CSRF ---------------------------------------------------------------------------------------------


def test_a_session_post_without_csrf_token_gets_403_csrf_failed_json(auditor):
    client = Client(enforce_csrf_checks=True)
    sign_in(client, auditor)
    response = client.post("/api/v1/tokens/", data={"name": "x"}, content_type="application/json")
    body = assert_error_shape(response, 403, "csrf_failed")
    assert body["detail"] == CSRF_FAILED


def test_the_csrf_failure_view_answers_json_under_the_api_and_a_page_elsewhere():
    factory = RequestFactory()
    api = csrf_failure(factory.post("/api/v1/runtime/decide"), reason="CSRF cookie not set.")
    assert api.status_code == 403 and json.loads(api.content)["error"] == "csrf_failed"
    page = Client(enforce_csrf_checks=True).post("/accounts/logout/")
    assert page.status_code == 403
    assert page["Content-Type"].startswith("text/html") and b"Form expired" in page.content


# --- Pagination -------------------------------------------------------------------------------------------


def test_large_lists_use_cursor_pagination_without_a_count(client, auditor):
    for n in range(55):
        audit_record_now(actor=None, action=f"test.event{n}")
    sign_in(client, auditor)
    first = client.get("/api/v1/audit/entries/").json()
    assert set(first) == {"next", "previous", "results"}  # no "count": no COUNT(*) on big tables
    assert len(first["results"]) == 50 and first["previous"] is None
    assert first["results"][0]["action"].startswith(("test.event54", "auth."))
    second = client.get(first["next"]).json()
    seen = {row["id"] for row in first["results"]} | {row["id"] for row in second["results"]}
    assert len(seen) == len(first["results"]) + len(second["results"])  # no row twice
    assert second["next"] is None


def test_an_invalid_cursor_gets_400_invalid_cursor_not_500(client, auditor):
    sign_in(client, auditor)
    assert_error_shape(client.get("/api/v1/audit/entries/?cursor=garbage"), 400, "invalid_cursor")


# --- Schema and docs --------------------------------------------------------------------------------------


def test_the_schema_is_public_openapi_3(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = json.loads(response.content)
    assert schema["openapi"].startswith("3.")
    assert "/api/v1/audit/entries/" in schema["paths"] and "/api/v1/" in schema["paths"]
    # The error shape is documented on every operation.
    root = schema["paths"]["/api/v1/"]["get"]["responses"]
    assert root["401"]["content"]["application/json"]["schema"]["$ref"] == "#/components/schemas/Error"


def test_the_schema_describes_lean_plain_django_views(client):
    schema = json.loads(client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").content)
    assert schema["paths"]["/healthz"]["get"]["operationId"] == "healthz"


@with_test_views
def test_a_lean_endpoint_appears_in_the_schema_with_its_body(client):
    schema = json.loads(client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").content)
    operation = schema["paths"]["/api/v1/test-lean/"]["post"]
    assert operation["operationId"] == "lean_echo"
    assert "LeanEchoRequest" in json.dumps(operation["requestBody"])
    assert "413" in operation["responses"]


def test_the_schema_generates_with_no_warnings(tmp_path):
    # Fails on any drf-spectacular warning or error, and validates against the OpenAPI 3 specification.
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))
    assert "openapi: 3" in (tmp_path / "schema.yaml").read_text()


def test_the_docs_are_public_and_have_no_inline_script_or_style(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "<style" not in html
    assert "<script>" not in html and all("src=" in tag for tag in html.split("<script")[1:])
    assert "unsafe-inline" not in response["Content-Security-Policy"]
    script = client.get("/api/docs/?script=")
    assert script.status_code == 200 and "SwaggerUIBundle" in script.content.decode()
