from django.urls import include, path

from agentiam import views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("healthz", views.healthz, name="healthz"),
    path("", include("agentiam.auth.urls")),  # sign-in, second factor, step-up, single sign-on
    path("", include("identities.urls")),
    path("api/", include("agentiam.api.urls")),  # /api/v1/ (every app's api module), schema, docs
]
