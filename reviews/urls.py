from django.urls import path

from agentiam.navigation import NavEntry, register
from agentiam.permissions import SEE_EVERYTHING, Role
from reviews.views import (
    attest,
    breakglass,
    breakglass_reviews,
    campaign_runs,
    campaigns,
    delegations,
    history,
    inbox,
    reduce_completion,
    requests,
    rules,
)

# Elevation requests in the browser: the owner's request form, the manager's inbox, history, break-glass and
# approval rules. Each page family is a module of reviews/views/; add its lines here.
app_name = "reviews"
urlpatterns = [
    path("break-glass/", breakglass_reviews.break_glass_list, name="break-glass-list"),
    path("break-glass/<uuid:uuid>/", breakglass.break_glass_detail, name="break-glass"),
    path("break-glass/<uuid:uuid>/close/", breakglass_reviews.break_glass_list_close, name="break-glass-list-close"),
    path("campaigns/runs/<uuid:uuid>/dashboard/", campaign_runs.run_dashboard, name="run_dashboard"),
    path("campaigns/runs/<uuid:uuid>/sign-off/", campaign_runs.run_sign_off, name="run_sign_off"),
    path("campaigns/runs/<uuid:uuid>/retry/", campaign_runs.run_retry, name="run_retry"),
    path("campaigns/runs/<uuid:uuid>/report/", campaign_runs.run_report, name="run_report"),
    path("campaigns/runs/<uuid:uuid>/report.csv", campaign_runs.run_report_csv, name="run_report_csv"),
    path("campaigns/runs/<uuid:uuid>/report.json", campaign_runs.run_report_json, name="run_report_json"),
    path("campaigns/", campaigns.campaign_list, name="campaigns"),
    path("campaigns/new/", campaigns.campaign_create, name="campaign_create"),
    path("campaigns/<uuid:uuid>/", campaigns.campaign_detail, name="campaign"),
    path("campaigns/<uuid:uuid>/edit/", campaigns.campaign_edit, name="campaign_edit"),
    path("campaigns/<uuid:uuid>/launch/", campaigns.campaign_launch, name="campaign_launch"),
    path("campaign-runs/<uuid:uuid>/progress/", campaigns.run_progress, name="run_progress"),
    path("identities/<uuid:uuid>/break-glass/", breakglass.break_glass_start_page, name="break-glass-start"),
    path("identities/<uuid:uuid>/ask/", requests.request_create, name="request_create"),
    path("inbox/", inbox.inbox, name="inbox"),
    path("my-reviews/", attest.my_reviews, name="my_reviews"),
    path("my-reviews/bulk/", attest.items_bulk, name="items_bulk"),
    path("my-reviews/accept/", attest.items_accept, name="items_accept"),
    path("my-reviews/<uuid:uuid>/sign-off/", attest.review_sign_off, name="review_sign_off"),
    path("items/<uuid:uuid>/decide/", attest.item_decide, name="item_decide"),
    path("items/<uuid:uuid>/reassign/", attest.item_reassign, name="item_reassign"),
    path("items/<uuid:uuid>/complete-reduce/", reduce_completion.item_complete_reduce, name="item_complete_reduce"),
    path("history/", history.history, name="history"),
    path("requests/<uuid:uuid>/", requests.request_detail, name="request"),
    path("requests/<uuid:uuid>/decide/", inbox.request_decide, name="request_decide"),
    path("requests/<uuid:uuid>/withdraw/", requests.request_withdraw, name="request_withdraw"),
    path("rules/", rules.rule_list, name="rules"),
    path("rules/new/", rules.rule_propose_create, name="rule-new"),
    path("rules/<uuid:uuid>/edit/", rules.rule_propose_edit, name="rule-edit"),
    path("rules/<uuid:uuid>/disable/", rules.rule_propose_disable, name="rule-disable"),
    path("rules/changes/", rules.rule_changes, name="rule-changes"),
    path("rules/changes/<uuid:uuid>/", rules.rule_change_detail, name="rule-change"),
    path("rules/changes/<uuid:uuid>/apply/", rules.rule_change_apply_page, name="rule-change-apply"),
    path("rules/changes/<uuid:uuid>/withdraw/", rules.rule_change_withdraw_page, name="rule-change-withdraw"),
    path("delegations/", delegations.delegation_list, name="delegations"),
    path("delegations/new/", delegations.delegation_create_page, name="delegation-new"),
    path("delegations/<uuid:uuid>/revoke/", delegations.delegation_revoke_page, name="delegation-revoke"),
]

# One entry per role into the area: managers decide from the inbox; owners and the reading roles read the history;
# history, approval rules, delegations and (for those who
# close or audit them) the break-glass reviews are tabs of each. Administrators also enter at the approval rules
# (Administration), counting the proposals another administrator made that wait for them to apply.
register(NavEntry("Access", "Elevation inbox", "reviews:inbox", frozenset({Role.MANAGER}), count=inbox.pending_count,
                  key="elevation-inbox", area="elevation"))  # fmt: skip
register(NavEntry("Access", "Elevation requests", "reviews:history", frozenset({Role.IDENTITY_OWNER, *SEE_EVERYTHING}),
                  area="elevation"))  # fmt: skip
register(NavEntry("Administration", "Approval rules", "reviews:rules", frozenset({Role.ADMINISTRATOR}),
                  count=rules.waiting_for, key="rule-changes", area="elevation"))  # fmt: skip
# Review campaigns: owners and managers attest in the browser ("Campaigns" is the see-everything roles' entry);
# anyone a campaign names may also attest through /api/v1/review-items/.
# Anyone else an open campaign names as a reviewer (any role or none) is shown it too; the roles that see
# everything are not: their one entry is "Campaigns", whose page links to My reviews with their count (so does the
# home page's work list) — no count on the entry itself, so their every page costs no extra query.
register(NavEntry("Access", "My reviews", "reviews:my_reviews", attest.REVIEWERS, count=attest.pending_count,
                  key="my-reviews", also=attest.nav_also))  # fmt: skip
# Review campaigns: the see-everything roles' one new entry (compliance officers define and launch from it).
register(NavEntry("Governance", "Campaigns", "reviews:campaigns", SEE_EVERYTHING, area="campaigns"))
