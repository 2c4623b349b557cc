"""Alert pages (included from agentiam/urls.py under /alerts/) and the one navigation entry: every role sees
"Alerts" (owners and managers the alerts on identities they may view); analysts see the waiting count."""

from django.urls import path

from agentiam.navigation import NavEntry, register
from audit.alerts import views
from audit.alerts.selectors import READERS, waiting_count

app_name = "alerts"
urlpatterns = [
    path("", views.alert_list, name="list"),
    path("<uuid:uuid>/", views.alert_detail, name="detail"),
    path("<uuid:uuid>/triage/<str:action>/", views.alert_triage, name="triage"),
    path("<uuid:uuid>/suspend/", views.alert_suspend_identity, name="suspend"),
]

register(NavEntry("Governance", "Alerts", "alerts:list", READERS, count=waiting_count, key="alerts"))
