"""/api/v1/runtime/elevation-requests: the agent's own path to elevation (reviews.api.runtime), mounted beside
the runtime's machine endpoints from agentiam/urls.py."""

from django.urls import path

from reviews.api import runtime

app_name = "reviews_runtime"
urlpatterns = [
    path("elevation-requests", runtime.AgentRequestCreateView.as_view(), name="elevation-request-create"),
    path(
        "elevation-requests/<uuid:request_id>",
        runtime.AgentRequestDetailView.as_view(),
        name="elevation-request-poll",
    ),
]
