"""agentiam.adapters: a service's refusal becomes the same answer on a form page, an htmx partial and a DRF
view — 400 naming the field, 403 with the reason, 409 for the state — and a 404 is never swallowed."""

from __future__ import annotations

import pytest
from django import forms
from django.contrib.messages.storage.cookie import CookieStorage
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.test import RequestFactory
from django_htmx.middleware import HtmxDetails
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory
from rest_framework.views import APIView

from agentiam import adapters
from agentiam.errors import Conflict, invalid


class ReasonForm(forms.Form):
    reason = forms.CharField()
    when = forms.CharField(required=False)


def refuse(error: Exception):
    def service(**kwargs):
        raise error

    return service


def valid_form(**data) -> ReasonForm:
    form = ReasonForm({"reason": "because", **data})
    assert form.is_valid()
    return form


@pytest.mark.parametrize(
    ("error", "status", "field", "message"),
    [
        (invalid("reason", "A reason is required."), 400, "reason", "A reason is required."),
        (invalid("expires_at", "must be in the future"), 400, "when", "must be in the future"),  # aliased
        (invalid("scope", "bad scope"), 400, "__all__", "bad scope"),  # a field the form lacks
        (PermissionDenied("Only an administrator may make this change."), 403, "__all__", "Only an administrator"),
        (PermissionDenied(), 403, "__all__", adapters.NOT_YOU),
        (Conflict("This identity is already suspended."), 409, "__all__", "already suspended"),
    ],
)
def test_a_refusal_is_written_into_the_form_with_its_status(error, status, field, message):
    form = valid_form()
    ok, result, answered = adapters.call_service(form, refuse(error), aliases={"expires_at": "when"})
    assert (ok, result, answered) == (False, None, status)
    assert message in " ".join(form.errors[field])


def test_a_service_that_succeeds_passes_its_result_through():
    form = valid_form()
    assert adapters.call_service(form, lambda **kw: kw, a=1) == (True, {"a": 1}, 200)
    assert not form.errors


def test_a_missing_object_is_not_swallowed():
    with pytest.raises(Http404):
        adapters.call_service(valid_form(), refuse(Http404()))
    with pytest.raises(Http404):
        adapters.api_call(refuse(Http404()))


def test_a_page_shown_again_after_a_post_answers_4xx():
    factory = RequestFactory()
    assert adapters.form_status(factory.get("/")) == 200
    assert adapters.form_status(factory.post("/")) == 400
    assert adapters.form_status(factory.post("/"), 409) == 409


def htmx(request, on: bool):
    request.htmx = HtmxDetails(request) if on else False
    return request


def test_done_redirects_or_tells_htmx_to_navigate():
    factory = RequestFactory()
    plain = adapters.done(htmx(factory.post("/"), False), "/identities/x/")
    assert (plain.status_code, plain["Location"]) == (302, "/identities/x/")
    request = factory.post("/", headers={"HX-Request": "true"})
    partial = adapters.done(htmx(request, True), "/identities/x/")
    assert (partial.status_code, partial["HX-Redirect"]) == (204, "/identities/x/")


# --- DRF -------------------------------------------------------------------------------------------------------


class Endpoint(adapters.ServiceErrors, APIView):
    authentication_classes: list = []
    permission_classes: list = []
    error: Exception | None = None

    def post(self, request):
        if request.data.get("through") == "api_call":
            return Response(adapters.api_call(refuse(self.error)))
        raise self.error


@pytest.mark.parametrize("through", ["mixin", "api_call"])
@pytest.mark.parametrize(
    ("error", "status", "body"),
    [
        (invalid("reason", "A reason is required."), 400,
         {"error": "invalid", "detail": "Some fields are not valid.", "fields": {"reason": ["A reason is required."]}}),
        (PermissionDenied("Not on an identity you own."), 403,
         {"error": "permission_denied", "detail": "Not on an identity you own.", "fields": {}}),
        (Conflict("Already revoked."), 409, {"error": "conflict", "detail": "Already revoked.", "fields": {}}),
    ],
)  # fmt: skip
def test_a_drf_view_answers_the_refusal_in_the_api_error_shape(error, status, body, through):
    view = Endpoint.as_view(error=error)
    response = view(APIRequestFactory().post("/api/v1/x/", {"through": through}, format="json"))
    assert response.status_code == status
    assert response.data == body


def test_other_exceptions_pass_through_unchanged():
    error = KeyError("x")
    assert adapters.api_error(error) is error
    bare = PermissionDenied()
    assert adapters.api_error(bare) is bare  # DRF's own 403 text then


# --- the reason-and-confirm page --------------------------------------------------------------------------------

PAGES = {
    "page.html": (
        "page:{{ thing }}:{% for e in form.non_field_errors %}{{ e }}{% endfor %}"
        "{% for e in form.reason.errors %}{{ e }}{% endfor %}"
    ),
    "panel.html": "panel:{% for e in form.non_field_errors %}{{ e }}{% endfor %}",
}


@pytest.fixture
def pages(settings):
    settings.TEMPLATES = [
        {
            "BACKEND": "django.template.backends.django.DjangoTemplates",
            "OPTIONS": {"loaders": [("django.template.loaders.locmem.Loader", PAGES)]},
        }
    ]


def confirm_request(method: str, data=None, *, htmx_on=False):
    factory = RequestFactory()
    headers = {"HX-Request": "true"} if htmx_on else {}
    request = factory.post("/", data or {}, headers=headers) if method == "POST" else factory.get("/")
    request._messages = CookieStorage(request)
    return htmx(request, htmx_on)


def run_confirm(request, service, **options):
    return adapters.confirm(
        request,
        "page.html",
        {"thing": "T"},
        form_class=ReasonForm,
        service=service,
        success=lambda result: HttpResponse(f"done:{result}"),
        **options,
    )


def test_confirm_shows_the_page_and_runs_the_service_with_the_reason(pages):
    shown = run_confirm(confirm_request("GET"), refuse(Conflict("never called")))
    assert (shown.status_code, shown.content) == (200, b"page:T:")
    seen = {}
    ran = run_confirm(confirm_request("POST", {"reason": "spill"}), lambda **kw: seen.update(kw) or "ok", row=7)
    assert ran.content == b"done:ok"
    assert seen["reason"] == "spill" and seen["row"] == 7 and seen["request"] is not None


@pytest.mark.parametrize(
    ("error", "options", "status"),
    [
        (PermissionDenied("Not yours."), {}, 403),
        (Conflict("Already disabled."), {}, 409),
        (Conflict("Already disabled."), {"refusal_status": 400}, 400),
    ],
)
def test_confirm_shows_a_refusal_on_the_page_with_its_status(pages, error, options, status):
    answer = run_confirm(confirm_request("POST", {"reason": "x"}), refuse(error), **options)
    assert answer.status_code == status
    assert str(error) in answer.content.decode()


def test_confirm_without_a_reason_never_calls_the_service(pages):
    answer = run_confirm(confirm_request("POST", {"reason": ""}), refuse(Conflict("never called")))
    assert answer.status_code == 400 and "required" in answer.content.decode()


def test_confirm_inline_refusals_render_the_panel_and_a_conflict_reloads_the_page(pages):
    panel = run_confirm(
        confirm_request("POST", {"reason": "x"}, htmx_on=True), refuse(PermissionDenied("Not yours.")),
        partial="panel.html", stale="/identities/x/",
    )  # fmt: skip
    assert (panel.status_code, panel.content) == (403, b"panel:Not yours.")
    request = confirm_request("POST", {"reason": "x"}, htmx_on=True)
    stale = run_confirm(request, refuse(Conflict("Already suspended.")), partial="panel.html", stale="/identities/x/")
    assert (stale.status_code, stale["HX-Redirect"]) == (204, "/identities/x/")
    assert [str(m) for m in request._messages._queued_messages] == ["Already suspended."]
