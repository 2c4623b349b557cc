from django.urls import path

from agentiam.dashboard import Panel, register_panel
from agentiam.navigation import NavEntry, register
from agentiam.permissions import SEE_EVERYTHING
from audit import views

app_name = "audit"
urlpatterns = [
    path("", views.entry_list, name="entries"),
    path("<uuid:uuid>/", views.entry_detail, name="entry"),
]

# Registered when the URL configuration loads, which happens before any page renders.
register(NavEntry("Governance", "Audit trail", "audit:entries", SEE_EVERYTHING))
register_panel(Panel("audit", "audit/dashboard_panel.html", SEE_EVERYTHING, views.dashboard_panel, order=20))
