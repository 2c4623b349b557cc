"""Runtime pages (/runtime/…): configuration lists and forms, the decision log, the reasons decisions cite."""

from django.urls import path

from agentiam.navigation import NavEntry, register
from identities.runtime.views import config, decisions

app_name = "runtime"
urlpatterns = [
    path("decisions/", decisions.decision_list, name="decisions"),
    path("decisions/<uuid:uuid>/", decisions.decision_detail, name="decision"),
    path("reasons/", decisions.reasons_page, name="reasons"),
    path("gateways/<uuid:uuid>/rotate/", config.gateway_rotate, name="gateway_rotate"),
]
for slug in config.KINDS:
    urlpatterns += [
        path(f"{slug}/", config.config_list, {"kind": slug}, name=slug),
        path(f"{slug}/new/", config.config_create, {"kind": slug}, name=f"{slug}-new"),
        path(f"{slug}/<uuid:uuid>/disable/", config.config_disable, {"kind": slug}, name=f"{slug}-disable"),
    ]

register(NavEntry("Runtime", "Decision log", "runtime:decisions", decisions.DECISION_READERS))
for slug, kind in config.KINDS.items():
    register(NavEntry("Runtime", kind.title, f"runtime:{slug}", config.CONFIG_READERS))
