"""Every list route, page or API, costs the same number of queries for 2 rows as for 50 — and really shows them.

Each list route registers below the factory that fills it (one row its readers see per call) and who reads
it; the test fills it to 2 visible rows, counts queries, fills it to 50 (or its page size) and counts again.
It fails when the count grows (an N+1) or when the visible rows did not go from 2 to 50: a route that shows
nothing proves nothing. `test_every_list_route_is_registered` walks the URL configuration, as
test_permissions_declared does, so a new list cannot skip this: every parameterless route is a registered
list or says here why it is not one.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from itertools import count

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from agentiam.permissions import Role
from audit.events.models import ActionEvent
from audit.events.services import ingest_key_create, ingest_key_revoke
from identities.views.imports import RECENT as RECENT_IMPORTS
from identities.views.people import PAGE_SIZE as PEOPLE_PAGE_SIZE
from identities.views.registry.lookup import MAX_MATCHES
from reviews.views.attest import IDENTITIES_PER_PAGE as MY_REVIEWS_PAGE
from reviews.views.inbox import INBOX_PAGE
from tests import factories as f
from tests.platform.test_permissions_declared import endpoints
from tests.reviews.attest_support import make_item, make_run

pytestmark = pytest.mark.django_db

OWNER = "identity_owner"
_serial = count()


def serial() -> int:
    return next(_serial)


class _TableRows(HTMLParser):
    """Counts the <tr> of every <tbody> that hold data (an empty-state row spans columns: not counted)."""

    def __init__(self):
        super().__init__()
        self.depth, self.rows, self.row_open, self.spans = 0, 0, False, False

    def handle_starttag(self, tag, attrs):
        if tag == "tbody":
            self.depth += 1
        elif tag == "tr" and self.depth:
            self.row_open, self.spans = True, False
        elif tag == "td" and self.row_open and dict(attrs).get("colspan"):
            self.spans = True

    def handle_endtag(self, tag):
        if tag == "tbody":
            self.depth -= 1
        elif tag == "tr" and self.row_open:
            self.rows += 0 if self.spans else 1
            self.row_open = False


def table_rows(response) -> int:
    parser = _TableRows()
    parser.feed(response.content.decode())
    return parser.rows


def api_rows(response) -> int:
    return len(response.json()["results"])


def option_rows(response) -> int:
    return response.content.decode().count("<option ")


@dataclass(frozen=True)
class ListRoute:
    fill: Callable[[object, object], object]  # fill(cast, reader) makes one row `reader` sees
    readers: tuple[str, ...] = ("administrator",)  # cast members the list is measured for
    params: dict = field(default_factory=dict)  # narrows the list to the filled rows where others exist
    many: int = 50  # the page size, when it is smaller
    most: int = 12  # no list needs more queries than this, whatever its rows
    rows: Callable | None = None  # how to count visible rows: API results / table rows by default


def owned(cast):
    """A new identity owned by the cast's identity owner (so owners, managers and readers all see it)."""
    return f.IdentityFactory(owner=cast.identity_owner)


def described(cast, reader):
    """An owned identity with what its lists show beside it: an identifier and a workflow."""
    identity = owned(cast)
    f.IdentifierFactory(identity=identity)
    f.WorkflowFactory(identities=[identity])
    return identity


def entitlement(cast, reader):
    """Standing and just-in-time in turn, granted by the owner."""
    factory = f.JitEntitlementFactory if serial() % 2 else f.EntitlementFactory
    return factory(identity=owned(cast), granted_by=cast.identity_owner)


def credential(cast, reader):
    identity = owned(cast)
    return f.CredentialFactory(holders=[identity], entitlements=[f.EntitlementFactory(identity=identity)])


def config(factory):
    """Runtime configuration made by the reader; every other row disabled by them."""

    def fill(cast, reader):
        disabled = {"disabled_at": timezone.now(), "disabled_by": reader} if serial() % 2 else {}
        return factory(created_by=reader, **disabled)

    return fill


def listed_person(cast, reader):
    """A person with a role and a manager, both shown in the people lists."""
    return f.PersonFactory(username=f"listed-{serial()}", roles=[Role.AUDITOR], manager=cast.manager)


def elevation_request(cast, reader):
    """Asked by the owner for an identity they own; every other one with the manager's approval on it."""
    made = f.ElevationRequestFactory(identity=owned(cast), requested_by=cast.identity_owner)
    if serial() % 2:
        f.ApprovalFactory(request=made, approver=cast.manager)
    return made


def review_item(cast, reader):
    """A standing read of a new owned identity, for the owner to review, in a run of its own."""
    run = make_run(cast.compliance_officer, name=f"listed campaign {serial()}")
    held = f.EntitlementFactory(identity=owned(cast), granted_by=cast.administrator, action="read")
    return make_item(run, held, cast.identity_owner, recommendation="revoke", reason="unused")


LISTED_TRACE = "5eed" * 8


def action_event(cast, reader):
    """A step of one trace by a new owned identity; every other one quarantined (only the see-all roles see it)."""
    now = timezone.now()
    quarantined = serial() % 2 and reader.username == "cast-auditor"
    return ActionEvent.objects.create(
        uuid=uuid.uuid4(), started_at=now, ingested_at=now, trace_id=LISTED_TRACE, span_id=f"{serial():016x}",
        identity=None if quarantined else owned(cast), quarantine="unknown_identity" if quarantined else "",
        claimed={"identifier": "spiffe://x"} if quarantined else {}, source="api", name="listed",
    )  # fmt: skip


def chain_head(cast, reader):
    """A chain of its own (root step and an error under it) by a new owned identity; every other one quarantined."""
    now = timezone.now()
    quarantined = serial() % 2 and reader.username == "cast-auditor"
    who = {"identity": None, "quarantine": "unknown_identity"} if quarantined else {"identity": owned(cast)}
    trace, root = f"{serial():032x}", f"{serial():016x}"
    ActionEvent.objects.create(
        uuid=uuid.uuid4(), started_at=now, ingested_at=now, trace_id=trace, span_id=f"{serial():016x}",
        parent_span_id=root, source="api", name="failed", outcome="error", **who,
    )  # fmt: skip
    return ActionEvent.objects.create(
        uuid=uuid.uuid4(), started_at=now, ingested_at=now, trace_id=trace, span_id=root, source="api",
        name="listed chain", **who,
    )  # fmt: skip


def ingest_key(cast, reader):
    """Scoped to an identity and a service name in turn, every other one revoked."""
    n = serial()
    key, _ = ingest_key_create(
        actor=cast.administrator, name=f"listed-key-{n}", identities=[] if n % 2 else [str(owned(cast).uuid)],
        service_names=[f"svc-{n}"] if n % 2 else [],
    )  # fmt: skip
    if n % 3 == 0:
        ingest_key_revoke(actor=cast.administrator, key=key)
    return key


def review_rows(response) -> int:
    return response.content.decode().count("data-review-item")


def cards(response) -> int:
    return response.content.decode().count("data-request-card")


def pending_request(cast, reader):
    """A pending request for write on a new owned agent, routed to the owner's manager, with what the inbox
    shows beside it: standing access, a past request, a recent decision."""
    identity = owned(cast)
    f.AcceptableUseFactory(identity=identity)
    f.EntitlementFactory(identity=identity, granted_by=cast.identity_owner)
    f.PolicyDecisionFactory(identity=identity)
    f.ElevationRequestFactory(identity=identity, requested_by=cast.identity_owner, state="withdrawn")
    return f.ElevationRequestFactory(identity=identity, requested_by=cast.identity_owner)


def approval_rule(cast, reader):
    """A rule; every other one with an approver group and an open proposal to change it."""
    if serial() % 2:
        group = Group.objects.create(name=f"board-{serial()}")
        rule = f.ApprovalRuleFactory(approver_group=group)
        return f.ApprovalRuleChangeFactory(kind="edit", rule=rule, fields={"max_duration_seconds": 600})
    return f.ApprovalRuleFactory()


def rule_change(cast, reader):
    """A proposal; every other one applied by the reader, on a rule."""
    if serial() % 2:
        return f.ApprovalRuleChangeFactory(kind="disable", rule=f.ApprovalRuleFactory(), fields={},
                                           state="applied", decided_by=reader, decided_at=timezone.now())  # fmt: skip
    return f.ApprovalRuleChangeFactory()


def delegation(cast, reader):
    """A delegation the reader made (or, every other one, one made to them) to or from a new person."""
    if serial() % 2:
        return f.DelegationFactory(delegate=reader)
    return f.DelegationFactory(approver=reader)


REGISTRY_READERS = ("auditor", OWNER)
LISTED = {"q": "listed-"}
TEST_ACTIONS = {"action": "test.listed."}

LIST_ROUTES: dict[str, ListRoute] = {
    # --- people and personal tokens ---------------------------------------------------------------------------
    "people": ListRoute(
        listed_person,
        readers=("auditor",),
        params=LISTED,
        many=PEOPLE_PAGE_SIZE,
        most=8,
    ),
    "api:person-list": ListRoute(
        listed_person,
        readers=("auditor",),
        params=LISTED,
        most=8,
    ),
    "person_lookup": ListRoute(
        lambda cast, reader: f.PersonFactory(username=f"listed-{serial()}", roles=[Role.IDENTITY_OWNER]),
        params=LISTED,
        many=MAX_MATCHES,
        rows=option_rows,
    ),
    "my_profile": ListRoute(lambda cast, reader: f.ApiTokenFactory(user=reader), readers=(OWNER,)),
    "api:token-list": ListRoute(lambda cast, reader: f.ApiTokenFactory(user=reader), readers=(OWNER,)),
    # --- the registry -----------------------------------------------------------------------------------------
    "identities": ListRoute(described, readers=("administrator", OWNER)),
    "identity_mine": ListRoute(described, readers=(OWNER,)),
    "systems": ListRoute(lambda cast, reader: f.SystemFactory(), readers=REGISTRY_READERS),
    "tools": ListRoute(lambda cast, reader: f.ToolFactory(), readers=REGISTRY_READERS),
    "imports": ListRoute(lambda cast, reader: f.ImportJobFactory(created_by=reader), many=RECENT_IMPORTS),
    "api:identity-list": ListRoute(described, readers=REGISTRY_READERS),
    "api:identifier-list": ListRoute(
        lambda cast, reader: f.IdentifierFactory(identity=owned(cast)), readers=REGISTRY_READERS
    ),
    "api:ownership-list": ListRoute(
        lambda cast, reader: f.OwnershipFactory(person=cast.identity_owner), readers=REGISTRY_READERS
    ),
    "api:acceptable-use-list": ListRoute(
        lambda cast, reader: f.AcceptableUseFactory(identity=owned(cast)), readers=REGISTRY_READERS
    ),
    "api:system-list": ListRoute(lambda cast, reader: f.SystemFactory(), readers=REGISTRY_READERS),
    "api:tool-list": ListRoute(lambda cast, reader: f.ToolFactory(), readers=REGISTRY_READERS),
    "api:entitlement-list": ListRoute(entitlement, readers=REGISTRY_READERS),
    "api:exception-list": ListRoute(
        lambda cast, reader: f.RiskExceptionFactory(entitlement__identity=owned(cast)), readers=REGISTRY_READERS
    ),
    "api:credential-list": ListRoute(credential, readers=REGISTRY_READERS),
    "api:workflow-list": ListRoute(
        lambda cast, reader: f.WorkflowFactory(identities=[owned(cast)]), readers=REGISTRY_READERS
    ),
    "api:task-list": ListRoute(lambda cast, reader: f.TaskFactory(identity=owned(cast)), readers=REGISTRY_READERS),
    "api:import-list": ListRoute(lambda cast, reader: f.ImportJobFactory(created_by=reader)),
    # --- the runtime ------------------------------------------------------------------------------------------
    "runtime:decisions": ListRoute(
        lambda cast, reader: f.PolicyDecisionFactory(identity=owned(cast)), readers=("security_analyst", OWNER)
    ),
    "runtime:policies": ListRoute(lambda cast, reader: f.PolicyVersionFactory(author=reader)),
    "api:policy-list": ListRoute(lambda cast, reader: f.PolicyVersionFactory(author=reader)),
    # --- reviews ------------------------------------------------------------------------------------------------
    "api:elevation-request-list": ListRoute(elevation_request, readers=("auditor", OWNER, "manager")),
    # --- elevation requests ---------------------------------------------------------------------------------
    # (31: the navigation also counts the manager's items to review, reviews:my_reviews)
    "reviews:inbox": ListRoute(pending_request, readers=("manager",), many=INBOX_PAGE, most=31, rows=cards),
    "reviews:history": ListRoute(
        lambda cast, reader: f.ElevationRequestFactory(identity=owned(cast), requested_by=cast.identity_owner),
        readers=("auditor", OWNER, "manager"),
        most=20,  # a manager's navigation counts their inbox: routing's facts, read set-wise
    ),
    "api:approval-rule-list": ListRoute(lambda cast, reader: f.ApprovalRuleFactory(), readers=("auditor",)),
    "api:approval-rule-change-list": ListRoute(rule_change, readers=("auditor", "administrator")),
    "api:delegation-list": ListRoute(delegation, readers=("manager", "administrator")),
    "reviews:rules": ListRoute(approval_rule, readers=("auditor", "administrator")),
    "reviews:rule-changes": ListRoute(rule_change, readers=("auditor", "administrator")),
    "reviews:delegations": ListRoute(delegation, readers=("manager", "administrator"), most=20),
    # Break-glass reviews: open ones by the owner (each with its close form for the reader) and closed ones.
    "reviews:break-glass-list": ListRoute(
        lambda cast, reader: f.BreakGlassFactory(
            identity=owned(cast),
            person=cast.identity_owner,
            **(
                {"closed_at": timezone.now(), "closed_by": cast.security_analyst, "close_note": "fine"}
                if serial() % 2
                else {}
            ),
        ),
        readers=("security_analyst", "manager", "auditor"),
        most=20,  # a manager's navigation counts their inbox: routing's facts, read set-wise
    ),
    # --- review campaigns: attestation -------------------------------------------------------------------------
    "api:review-item-list": ListRoute(review_item, readers=("auditor", OWNER, "manager")),
    # --- action events ---------------------------------------------------------------------------------------
    "ingest-keys": ListRoute(ingest_key, readers=("auditor", "administrator")),
    "chains": ListRoute(chain_head, readers=("auditor", OWNER, "manager")),
    "api:event-list": ListRoute(action_event, readers=("auditor", OWNER, "manager"), params={"trace_id": LISTED_TRACE}),
    # runs, figures, sign-offs, the identities and items of the page, five of evidence, the shell's navigation
    "reviews:my_reviews": ListRoute(review_item, readers=(OWNER,), many=MY_REVIEWS_PAGE, rows=review_rows, most=18),
    # --- review campaigns --------------------------------------------------------------------------------------
    "reviews:campaigns": ListRoute(lambda cast, reader: f.CampaignFactory(), readers=("auditor", "compliance_officer")),
    "api:campaign-list": ListRoute(lambda cast, reader: f.CampaignFactory(), readers=("auditor",)),
    "api:campaign-run-list": ListRoute(lambda cast, reader: f.CampaignRunFactory(), readers=("auditor",)),
    # --- the audit trail (other tests' entries may stay: the list is narrowed to this test's actions) --------------
    "audit:entries": ListRoute(
        lambda cast, reader: f.AuditEntryFactory(action=f"test.listed.{serial()}"),
        readers=("auditor",),
        params=TEST_ACTIONS,
    ),
    "api:audit-entry-list": ListRoute(
        lambda cast, reader: f.AuditEntryFactory(action=f"test.listed.{serial()}"),
        readers=("auditor",),
        params=TEST_ACTIONS,
    ),
}

# Each kind of runtime configuration: its page (runtime:<page>) and its API list (api:runtime-<api>-list).
RUNTIME_CONFIG = [
    ("gateways", "gateway", f.GatewayFactory),
    ("trust-bundles", "trust-bundle", f.TrustBundleFactory),
    ("oidc-issuers", "oidc-issuer", f.OidcIssuerFactory),
    ("assertion-keys", "assertion-key", f.AssertionKeyFactory),
    ("provenance-rules", "provenance-rule", f.ProvenanceRuleFactory),
    ("delegation-rules", "delegation-rule", f.DelegationRuleFactory),
    ("per-call-approval", "per-call-approval", f.PerCallModeFactory),
]
for page, api, factory in RUNTIME_CONFIG:
    LIST_ROUTES[f"runtime:{page}"] = LIST_ROUTES[f"api:runtime-{api}-list"] = ListRoute(config(factory))


def call_cards(response) -> int:
    return response.content.decode().count('<article class="panel" id="call-')


# Per-call approvals waiting for the manager: calls of identities their report owns.
LIST_ROUTES["reviews_calls:list"] = ListRoute(
    lambda cast, reader: f.CallAuthorisationFactory(identity=owned(cast)), readers=("manager", "auditor"),
    rows=call_cards, most=20,  # the inbox's count and who each call routes to: routing's facts, read set-wise
)  # fmt: skip


def alert(cast, reader):
    """An alert on an owned identity; every other one acknowledged and assigned to the analyst."""
    from audit.alerts.models import Alert

    now = timezone.now()
    extra = {"state": "acknowledged", "assignee": cast.security_analyst, "triaged_at": now} if serial() % 2 else {}
    return Alert.objects.create(rule="new_tool", severity="medium", identity=owned(cast), scope=f"trace:{serial()}",
                                title="First use of a tool", first_event_at=now, last_event_at=now, raised_at=now,
                                **extra)  # fmt: skip


# Alerts: the analysts' page (its navigation counts the waiting ones) and the API; owners see their identities'.
LIST_ROUTES["alerts:list"] = ListRoute(alert, readers=("security_analyst", OWNER), most=20)
LIST_ROUTES["api:alert-list"] = ListRoute(alert, readers=("security_analyst", OWNER))

# Routes without URL parameters that are not lists, and why.
NOT_LISTS = {
    "dashboard": "counts and panels; its query count is pinned in test_ui_shell",
    "worklist": "one line per work source, with a count: it does not grow with rows",
    "healthz": "a probe",
    "login": "a form",
    "logout": "an action",
    "second_factor_verify": "a form",
    "second_factor_enrol": "a form",
    "step_up": "a form",
    "account_security": "one person's devices and sign-ins: a page of its own",
    "second_factor_remove": "a form",
    "oidc_authentication_init": "a redirect to the identity provider",
    "oidc_authentication_callback": "the identity provider's redirect back",
    "person_create": "a form",
    "token_create": "a form (POST)",
    "identity_create": "a form",
    "reviews:campaign_create": "a form",
    "ingest-key-new": "a form (the key shown once)",
    "identity_transfer": "a form",
    "system_create": "a form",
    "runtime:reasons": "the fixed list of rule ids and what they mean",
    "runtime:gateways-new": "a form",
    "runtime:trust-bundles-new": "a form",
    "runtime:oidc-issuers-new": "a form",
    "runtime:assertion-keys-new": "a form",
    "runtime:provenance-rules-new": "a form",
    "runtime:delegation-rules-new": "a form",
    "runtime:per-call-approval-new": "a form",
    "runtime_api:token": "the token service (POST)",
    "runtime_api:decide": "a decision (POST)",
    "runtime_api:introspect": "introspection (POST)",
    "reviews_runtime:elevation-request-create": "the agent asks for elevation (POST)",
    "reviews:rule-new": "a form (step-up)",
    "reviews:delegation-new": "a form",
    "jwks": "the public keys",
    "events-ingest": "event ingest (POST)",
    "otlp-traces": "OTLP trace ingest (POST)",
    "api:root": "links to the lists",
    "api:profile-me": "the signed-in person",
    "api:ownership-transfer": "an action (POST)",
    "api:import-export": "a ZIP of the registry, streamed (test_registry_import)",
    "api:schema": "the OpenAPI document",
    "api:docs": "the API's documentation page",
    "api:review-item-bulk-decide": "an action (POST)",
    "api:review-item-accept-recommendations": "an action (POST)",
    "api:review-item-sign-off": "an action (POST)",
    "reviews:items_bulk": "an action (POST)",
    "reviews:items_accept": "an action (POST)",
}


def list_route_names() -> set[str]:
    """URL names of every route without URL parameters, and of every API list action."""
    names = set()
    for endpoint in endpoints():
        actions = getattr(endpoint.callback, "actions", None) or {}
        if actions.get("get") == "list" or ("<" not in endpoint.path and endpoint.name):
            names.add(endpoint.name)
    return names


def test_every_list_route_is_registered():
    found = list_route_names()
    missing = sorted(found - LIST_ROUTES.keys() - NOT_LISTS.keys())
    assert not missing, (
        "register these routes in LIST_ROUTES (the factory that fills them) or, if they are not lists, in "
        "NOT_LISTS with the reason:\n  " + "\n  ".join(missing)
    )
    stale = sorted((LIST_ROUTES.keys() | NOT_LISTS.keys()) - found)
    assert not stale, "these names are no longer routes: " + ", ".join(stale)
    assert not LIST_ROUTES.keys() & NOT_LISTS.keys()


def test_an_unregistered_list_is_caught(monkeypatch):
    monkeypatch.delitem(LIST_ROUTES, "api:task-list")
    with pytest.raises(AssertionError, match="api:task-list"):
        test_every_list_route_is_registered()


def test_a_table_row_that_spans_the_columns_is_an_empty_state():
    class Page:
        content = b"<table><thead><tr><th>x</th></tr></thead><tbody><tr><td colspan=2>None</td></tr></tbody></table>"

    assert table_rows(Page()) == 0
    Page.content = b"<tbody><tr><td>a</td></tr><tr><td>b</td></tr></tbody><tbody><tr><td>c</td></tr></tbody>"
    assert table_rows(Page()) == 3


def _cases():
    for name, route in LIST_ROUTES.items():
        for reader in route.readers:
            yield pytest.param(name, reader, id=f"{name}-{reader}")


@pytest.mark.parametrize(("name", "reader"), list(_cases()))
def test_a_list_costs_the_same_for_2_rows_and_for_50(cast, client_factory, name, reader):
    route = LIST_ROUTES[name]
    url = reverse(name)
    rows = route.rows or (api_rows if url.startswith("/api/") else table_rows)
    client = client_factory(cast[reader])

    def read():
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url, route.params)
        assert response.status_code == 200, f"{name}: {response.status_code}"
        return len(queries), rows(response)

    def fill_to(target: int) -> int:
        shown = read()[1]
        assert shown <= target, f"{name} shows {shown} rows before it is filled: narrow it with params"
        for _ in range(target - shown):
            route.fill(cast, cast[reader])
        return target

    read()  # the session, the person and their roles are loaded once
    few_expected = fill_to(2)
    few_queries, few_rows = read()
    many_expected = fill_to(route.many)
    many_queries, many_rows = read()
    assert (few_rows, many_rows) == (few_expected, many_expected), f"{name} did not show the rows it was given"
    assert many_queries == few_queries, f"{name}: {few_queries} queries for 2 rows, {many_queries} for {route.many}"
    assert many_queries <= route.most
