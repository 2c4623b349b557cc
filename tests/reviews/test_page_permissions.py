"""Who may open what among the elevation pages (docs/permissions.md): the request form, withdrawing, the inbox
and deciding from it, one request's page and the history — anonymous (to sign-in), the wrong role (403, or an
empty inbox), another owner's request (404, as everywhere else) and whoever may (200/302). Nothing refused is
written. (Break-glass pages: test_break_glass_pages.py.)"""

from __future__ import annotations

import pytest
from django.urls import reverse

from agentiam.permissions import Role
from audit.models import AuditEntry
from reviews.models import ElevationRequest
from tests.cast import OUTSIDER, check_access, make_person
from tests.factories import IdentityFactory, OwnershipFactory
from tests.reviews.support import WRITE, ask

pytestmark = pytest.mark.django_db

ALL = list(Role)
SEES_IT = ALL  # the requester, their manager and the see-everything roles (the rest of the cast has no role)


@pytest.fixture
def other_owner(db):
    """An identity owner who owns something else: this estate's requests do not exist for them."""
    person = make_person("other-owner", Role.IDENTITY_OWNER)
    OwnershipFactory(identity=IdentityFactory(), person=person)
    return person


@pytest.fixture
def other_manager(db):
    """A manager nobody in the estate reports to: neither routed to nor above the owner."""
    return make_person("other-manager", Role.MANAGER, employee_id="C-other-manager")


def decide(r, decision: str) -> dict:
    return {f"r-{r.uuid.hex[:12]}-decision": decision}


def written() -> tuple[int, int]:
    """Requests, and the audit entries of elevation (signing in writes its own)."""
    return ElevationRequest.objects.count(), AuditEntry.objects.filter(action__startswith="elevation").count()


# --- asking ---------------------------------------------------------------------------------------------------


def test_the_request_form_is_for_those_who_may_change_the_identity(estate, client_factory, other_owner):
    url = reverse("reviews:request_create", args=[estate.agent.uuid])
    check_access(client_factory, url, cast=estate.cast, allowed=[Role.ADMINISTRATOR, Role.IDENTITY_OWNER],
                 expect_allowed=(200,), object_denied=[other_owner])  # fmt: skip


def test_posting_the_form_without_the_right_writes_nothing(estate, client_factory, other_owner):
    url = reverse("reviews:request_create", args=[estate.agent.uuid])
    data = {"scopes": [WRITE], "task": "fix-ci", "justification": "why", "duration_minutes": "60", "urgency": "high"}
    before = written()
    assert client_factory(None).post(url, data).status_code == 302
    for person, status in ((estate.cast.manager, 403), (estate.cast.auditor, 403), (estate.cast.outsider, 403),
                           (other_owner, 404)):  # fmt: skip
        assert client_factory(person).post(url, data).status_code == status, person
    assert written() == before


def test_an_unknown_identity_is_a_404(estate, client_factory):
    url = reverse("reviews:request_create", args=["00000000-0000-0000-0000-000000000000"])
    assert client_factory(estate.cast.identity_owner).get(url).status_code == 404


# --- one request's page ---------------------------------------------------------------------------------------


def test_the_request_page_is_for_those_who_see_it(estate, client_factory, other_owner, other_manager):
    made = ask(estate)
    check_access(client_factory, reverse("reviews:request", args=[made.uuid]), cast=estate.cast, allowed=SEES_IT,
                 expect_allowed=(200,), object_denied=[other_owner, other_manager])  # fmt: skip


def test_the_decision_form_is_on_the_page_only_for_whoever_may_decide(estate, client_factory):
    made = ask(estate)
    url = reverse("reviews:request", args=[made.uuid])
    for person in (estate.cast.identity_owner, estate.cast.auditor, estate.cast.administrator):
        assert f"r-{made.uuid.hex[:12]}-decision" not in client_factory(person).get(url).content.decode(), person
    assert f"r-{made.uuid.hex[:12]}-decision" in client_factory(estate.cast.manager).get(url).content.decode()


# --- withdrawing ----------------------------------------------------------------------------------------------


def test_the_withdraw_page_is_for_the_requester_only(estate, client_factory, other_owner):
    made = ask(estate)
    url = reverse("reviews:request_withdraw", args=[made.uuid])
    # The administrator sees the request (and may ask) but did not ask this one: 403 like the other roles.
    check_access(client_factory, url, cast=estate.cast, allowed=[Role.IDENTITY_OWNER], expect_allowed=(200,),
                 object_denied=[other_owner])  # fmt: skip


def test_a_co_owner_who_did_not_ask_may_not_withdraw_it(estate, client_factory):
    co_owner = make_person("co-owner", Role.IDENTITY_OWNER)
    OwnershipFactory(identity=estate.agent, person=co_owner, role="technical")
    made = ask(estate)
    url = reverse("reviews:request_withdraw", args=[made.uuid])
    client = client_factory(co_owner)
    assert client.get(url).status_code == 403
    assert client.post(url, {"reason": "not mine"}).status_code == 403
    made.refresh_from_db()
    assert made.state == "pending"


def test_withdrawing_without_the_right_writes_nothing(estate, client_factory, other_owner):
    made = ask(estate)
    url = reverse("reviews:request_withdraw", args=[made.uuid])
    before = written()
    assert client_factory(None).post(url, {"reason": "x"}).status_code == 302
    for person, status in ((estate.cast.administrator, 403), (estate.cast.manager, 403), (estate.cast.auditor, 403),
                           (estate.cast.outsider, 403), (other_owner, 404)):  # fmt: skip
        assert client_factory(person).post(url, {"reason": "x"}).status_code == status, person
    made.refresh_from_db()
    assert made.state == "pending" and written() == before


# --- the inbox and deciding -----------------------------------------------------------------------------------


def test_the_inbox_opens_for_every_role_and_lists_only_what_they_decide(
    estate, client_factory, other_owner, other_manager
):
    made = ask(estate)
    url = reverse("reviews:inbox")
    check_access(client_factory, url, cast=estate.cast, allowed=ALL, expect_allowed=(200,))
    card = f'id="card-{made.uuid.hex}"'
    assert card in client_factory(estate.cast.manager).get(url).content.decode()
    others = [estate.cast[role] for role in ALL if role != Role.MANAGER] + [other_owner, other_manager, estate.boss]
    for person in others:
        html = client_factory(person).get(url).content.decode()
        assert card not in html and "Nothing waits for your decision" in html, person


@pytest.mark.parametrize("decision", ["approve", "deny"])
def test_deciding_is_for_whoever_the_request_routes_to(estate, client_factory, other_owner, other_manager, decision):
    made = ask(estate)
    url = reverse("reviews:request_decide", args=[made.uuid])
    before = written()
    anonymous = client_factory(None).post(url, decide(made, decision))
    assert anonymous.status_code == 302 and anonymous["Location"].startswith(reverse("login"))
    refused = {
        OUTSIDER: 403,  # no role
        "identity_owner": 403,  # the requester and an owner: separation of duties
        "administrator": 403,  # sees it, read-only
        "compliance_officer": 403,
        "security_analyst": 403,
        "auditor": 403,
    }
    for name, status in refused.items():
        assert client_factory(estate.cast[name]).post(url, decide(made, decision)).status_code == status, name
    for person in (other_owner, other_manager):  # the request does not exist for them
        assert client_factory(person).post(url, decide(made, decision)).status_code == 404, person
    assert client_factory(estate.boss).post(url, decide(made, decision)).status_code in (403, 404)
    made.refresh_from_db()
    assert made.state == "pending" and not made.approvals.exists() and written() == before
    assert client_factory(estate.cast.manager).post(url, decide(made, decision)).status_code == 302
    made.refresh_from_db()
    assert made.state == ("approved" if decision == "approve" else "denied")


def test_deciding_is_a_post(estate, client_factory):
    made = ask(estate)
    url = reverse("reviews:request_decide", args=[made.uuid])
    assert client_factory(estate.cast.manager).get(url).status_code == 405


# --- history --------------------------------------------------------------------------------------------------


def test_the_history_opens_for_every_role_and_lists_only_what_they_see(estate, client_factory, other_owner):
    made = ask(estate)
    url = reverse("reviews:history")
    check_access(client_factory, url, cast=estate.cast, allowed=ALL, expect_allowed=(200,))
    link = reverse("reviews:request", args=[made.uuid])
    for role in ALL:
        assert link in client_factory(estate.cast[role]).get(url).content.decode(), role
    assert link not in client_factory(other_owner).get(url).content.decode()
