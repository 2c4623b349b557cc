from django.urls import path

from agentiam.navigation import NavEntry, register
from agentiam.permissions import SEE_EVERYTHING, Role
from reviews.views import breakglass, campaign_runs, history, inbox, requests

# Elevation requests in the browser: the owner's request form, the manager's inbox, history, break-glass and
# approval rules. Each page family is a module of reviews/views/; add its lines here.
app_name = "reviews"
urlpatterns = [
    path("break-glass/<uuid:uuid>/", breakglass.break_glass_detail, name="break-glass"),
    path("campaigns/runs/<uuid:uuid>/dashboard/", campaign_runs.run_dashboard, name="run_dashboard"),
    path("campaigns/runs/<uuid:uuid>/sign-off/", campaign_runs.run_sign_off, name="run_sign_off"),
    path("campaigns/runs/<uuid:uuid>/retry/", campaign_runs.run_retry, name="run_retry"),
    path("campaigns/runs/<uuid:uuid>/report/", campaign_runs.run_report, name="run_report"),
    path("campaigns/runs/<uuid:uuid>/report.csv", campaign_runs.run_report_csv, name="run_report_csv"),
    path("campaigns/runs/<uuid:uuid>/report.json", campaign_runs.run_report_json, name="run_report_json"),
    path("identities/<uuid:uuid>/break-glass/", breakglass.break_glass_start_page, name="break-glass-start"),
    path("identities/<uuid:uuid>/ask/", requests.request_create, name="request_create"),
    path("inbox/", inbox.inbox, name="inbox"),
    path("history/", history.history, name="history"),
    path("requests/<uuid:uuid>/", requests.request_detail, name="request"),
    path("requests/<uuid:uuid>/decide/", inbox.request_decide, name="request_decide"),
    path("requests/<uuid:uuid>/withdraw/", requests.request_withdraw, name="request_withdraw"),
]

# One entry per role: managers decide from the inbox (history is a tab of it); owners and the reading roles
# read the history.
register(NavEntry("Access", "Elevation inbox", "reviews:inbox", frozenset({Role.MANAGER}), count=inbox.pending_count,
                  key="elevation-inbox", area="elevation"))  # fmt: skip
register(NavEntry("Access", "Elevation requests", "reviews:history", frozenset({Role.IDENTITY_OWNER, *SEE_EVERYTHING}),
                  area="elevation"))  # fmt: skip
