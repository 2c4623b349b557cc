"""The /api/v1/ root: what the API offers, read from the URL configuration so it never drifts."""

from __future__ import annotations

from django.urls import NoReverseMatch, URLPattern, URLResolver, get_resolver, reverse
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

V1_PREFIX = "/api/v1/"


def _named_patterns(patterns, namespace: str = ""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            yield from _named_patterns(pattern.url_patterns, inner)
        elif isinstance(pattern, URLPattern) and pattern.name:
            yield namespace + pattern.name, pattern.callback


def api_resources() -> dict[str, str]:
    """Every named endpoint under /api/v1/ that takes no path parameter (collections and lean endpoints),
    keyed by its path below /api/v1/."""
    resources: dict[str, str] = {}
    for name, callback in _named_patterns(get_resolver().url_patterns):
        if getattr(callback, "cls", None) is ApiRootView:
            continue
        try:
            url = reverse(name)
        except NoReverseMatch:
            continue  # needs arguments: a detail route
        if url.startswith(V1_PREFIX) and url != V1_PREFIX:
            resources.setdefault(url[len(V1_PREFIX) :].strip("/"), url)
    return dict(sorted(resources.items()))


class ApiRootView(APIView):
    """The resources of API version 1, with links to the OpenAPI schema and the interactive docs."""

    permission_classes = [IsAuthenticated]
    allowed_roles = frozenset()  # any signed-in person or API token

    @extend_schema(
        operation_id="api_root",
        summary="List the API's resources",
        tags=["api"],
        responses=inline_serializer(
            "ApiRoot",
            {
                "version": serializers.CharField(),
                "resources": serializers.DictField(child=serializers.URLField()),
                "schema": serializers.URLField(),
                "docs": serializers.URLField(),
            },
        ),
    )
    def get(self, request):
        absolute = request.build_absolute_uri
        return Response(
            {
                "version": "1",
                "resources": {key: absolute(url) for key, url in api_resources().items()},
                "schema": absolute(reverse("api:schema")),
                "docs": absolute(reverse("api:docs")),
            }
        )
