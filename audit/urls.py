from django.urls import path

from agentiam.dashboard import Panel, register_panel
from agentiam.navigation import NavEntry, register
from audit import views

app_name = "audit"
urlpatterns = [
    path("", views.entry_list, name="entries"),
    path("<uuid:uuid>/", views.entry_detail, name="entry"),
]

# Registered when the URL configuration loads, which happens before any page renders.
register(NavEntry("Governance", "Audit trail", "audit:entries", views.AUDIT_READERS))
register_panel(Panel("audit", "audit/dashboard_panel.html", views.AUDIT_READERS, views.dashboard_panel, order=20))
