"""/api/: version 1 (the root and every app's registered viewsets), the OpenAPI schema and its docs."""

from __future__ import annotations

from django.urls import include, path
from django.utils.module_loading import autodiscover_modules
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from agentiam.api.routers import router
from agentiam.api.views import ApiRootView
from agentiam.permissions import public

# Each app's `api` module registers its viewsets on the router; import them before reading router.urls.
autodiscover_modules("api")

app_name = "api"
urlpatterns = [
    path("v1/", ApiRootView.as_view(), name="root"),
    path("v1/", include(router.urls)),
    path("schema/", public(SpectacularAPIView.as_view()), name="schema"),
    path(
        "docs/",
        public(SpectacularSwaggerSplitView.as_view(url_name="api:schema", template_name="api/docs.html")),
        name="docs",
    ),
]
