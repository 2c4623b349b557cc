"""/reviews/calls/…: per-call re-authorisation (the access requests decide opens for gated calls)."""

from django.urls import path

from reviews import views_calls

app_name = "reviews_calls"
urlpatterns = [
    path("", views_calls.call_list, name="list"),
    path("<uuid:uuid>/", views_calls.call_detail, name="detail"),
    path("<uuid:uuid>/approve/", views_calls.call_approve, name="approve"),
    path("<uuid:uuid>/deny/", views_calls.call_deny, name="deny"),
]
