"""Runtime pages (/runtime/…): configuration lists and forms, the decision log, the reasons decisions cite."""

from django.urls import path

from agentiam.navigation import NavEntry, register
from identities.runtime.views import config, decisions, percall, policies

app_name = "runtime"
urlpatterns = [
    path("decisions/", decisions.decision_list, name="decisions"),
    path("decisions/<uuid:uuid>/", decisions.decision_detail, name="decision"),
    path("reasons/", decisions.reasons_page, name="reasons"),
    path("policies/", policies.policy_list, name="policies"),
    path("policies/<uuid:uuid>/", policies.policy_detail, name="policy"),
    path("policies/<uuid:uuid>/draft/", policies.policy_draft_new, name="policy-draft"),
    path("policies/<uuid:uuid>/edit/", policies.policy_edit, name="policy-edit"),
    path("policies/<uuid:uuid>/diff/", policies.policy_diff, name="policy-diff"),
    path("policies/<uuid:uuid>/simulate/", policies.policy_simulate, name="policy-simulate"),
    path("policies/<uuid:uuid>/activate/", policies.policy_activate, name="policy-activate"),
    path("gateways/<uuid:uuid>/rotate/", config.gateway_rotate, name="gateway_rotate"),
    path(f"{percall.SLUG}/", percall.mode_list, name=percall.SLUG),
    path(f"{percall.SLUG}/new/", percall.mode_create, name=f"{percall.SLUG}-new"),
    path(f"{percall.SLUG}/<uuid:uuid>/disable/", percall.mode_disable, name=f"{percall.SLUG}-disable"),
]
for slug in config.KINDS:
    urlpatterns += [
        path(f"{slug}/", config.config_list, {"kind": slug}, name=slug),
        path(f"{slug}/new/", config.config_create, {"kind": slug}, name=f"{slug}-new"),
        path(f"{slug}/<uuid:uuid>/disable/", config.config_disable, {"kind": slug}, name=f"{slug}-disable"),
    ]

register(NavEntry("Runtime", "Decision log", "runtime:decisions", decisions.DECISION_READERS))
register(NavEntry("Runtime", "Policies", "runtime:policies", policies.POLICY_READERS))
for slug, kind in config.KINDS.items():
    register(NavEntry("Runtime", kind.title, f"runtime:{slug}", config.CONFIG_READERS))
# Per-call approval settings have no navigation entry of their own (issue 10 allows one per role, the
# inbox's): the per-call approvals page links to them.
