"""OpenAPI helpers: the error shape documented on every operation, and `lean_endpoint` for plain Django
views (the lean /api/v1/runtime/* hot paths skip DRF but must still appear in the schema)."""

from __future__ import annotations

from collections.abc import Callable

from django.core.exceptions import ImproperlyConfigured
from drf_spectacular import openapi
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.views import APIView

BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
ERROR_DESCRIPTIONS = {
    "400": "Invalid input (field messages in `fields`), malformed JSON, or a NUL character anywhere in the request.",
    "401": "No credentials, or an invalid, expired or revoked API token.",
    "403": "The person's roles do not allow this, or a CSRF check failed (session requests).",
    "404": "No such object, or not one the caller may see.",
    "413": "The request body is larger than the server accepts.",
}


class ErrorSerializer(serializers.Serializer):
    """The body of every 4xx and 5xx answer under /api/."""

    error = serializers.CharField(help_text="Machine-readable code, e.g. `invalid`, `not_found`.")
    detail = serializers.CharField(help_text="What went wrong, for a person.")
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text="Messages per input field (dotted paths for nested fields); empty when none.",
    )

    class Meta:
        ref_name = "Error"


class AutoSchema(openapi.AutoSchema):
    """drf-spectacular's AutoSchema, adding the error answers every endpoint can give."""

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        codes = ["400"]  # NUL characters and malformed input are refused everywhere
        if not self._is_public():
            codes += ["401", "403"]
        if "{" in self.path:
            codes.append("404")
        if self.method in BODY_METHODS:
            codes.append("413")
        for code in codes:
            if code not in responses:
                error = OpenApiResponse(ErrorSerializer, description=ERROR_DESCRIPTIONS[code])
                responses[code] = self._get_response_for_code(error, code, direction=direction)
        return responses

    def _is_public(self) -> bool:
        """Open to anonymous callers: only AllowAny, and no security scheme that could refuse a bad credential."""
        permissions = getattr(self.view, "permission_classes", ())
        if not all(issubclass(permission, AllowAny) for permission in permissions):
            return False
        return not any(requirement for requirement in self.get_auth())


_METHODS = frozenset({"get", "post", "put", "patch", "delete"})


def lean_endpoint(**operations: Callable) -> Callable:
    """Describe a plain Django view in the OpenAPI schema, one `extend_schema(...)` per HTTP method:

        @lean_endpoint(post=extend_schema(request=DecideRequest, responses={200: DecideAnswer}))
        @csrf_exempt
        def decide(request): ...

    drf-spectacular only enumerates DRF views, so this gives the function a stand-in APIView class that
    carries the description; requests still go to the function itself. Without authentication or
    permission classes the stand-in is documented as public: pass `auth=[...]` to extend_schema to
    name the security scheme the view really checks."""
    unknown = set(operations) - _METHODS
    if unknown or not operations:
        raise ImproperlyConfigured(f"lean_endpoint takes HTTP methods ({', '.join(sorted(_METHODS))}) as keywords")

    def decorator(view):
        attrs: dict = {
            "authentication_classes": [],
            "permission_classes": [AllowAny],
            "__doc__": view.__doc__,
            "__module__": view.__module__,
        }
        for method, describe in operations.items():

            def stand_in(self, request, *args, **kwargs):
                raise NotImplementedError("documentation only: the plain view answers requests")

            attrs[method] = describe(stand_in)
        name = "".join(part.title() for part in view.__name__.split("_")) + "LeanEndpoint"
        view.cls = type(name, (APIView,), attrs)
        view.initkwargs = {}
        return view

    return decorator
