"""reviews' REST endpoints under /api/v1/, registered on the shared router when agentiam.api.urls
autodiscovers this package: elevation requests (`requests`). The agent's own path (its proof or task
token, /api/v1/runtime/elevation-requests) is `runtime`, routed from agentiam/urls.py."""

from agentiam.api.routers import router

from .requests import ElevationRequestViewSet

__all__ = ["RESOURCES", "ElevationRequestViewSet"]

RESOURCES = [("elevation-requests", ElevationRequestViewSet, "elevation-request")]

for prefix, viewset, basename in RESOURCES:
    if not any(registered[0] == prefix for registered in router.registry):
        router.register(prefix, viewset, basename=basename)
