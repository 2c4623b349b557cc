"""The elevation pages in the browser's terms (test client, real database): the owner's request form, the
request page, withdrawing, the manager's inbox with inline decisions, and the history."""

from __future__ import annotations

import pytest
from django.urls import reverse

from audit.models import AuditEntry
from reviews import services
from reviews.models import ElevationRequest
from reviews.services import requests as messages
from tests.factories import ApprovalRuleFactory, EntitlementFactory
from tests.reviews.support import WRITE, ask
from tests.support import sign_in

pytestmark = pytest.mark.django_db


def ask_url(estate) -> str:
    return reverse("reviews:request_create", args=[estate.agent.uuid])


def form(**extra) -> dict:
    return {
        "scopes": [WRITE],
        "task": "fix-ci",
        "justification": "CI is red on main",
        "duration_minutes": "60",
        "urgency": "high",
        **extra,
    }


def decide(r, decision: str, **extra) -> dict:
    prefix = f"r-{r.uuid.hex[:12]}"
    return {f"{prefix}-decision": decision, **{f"{prefix}-{key}": value for key, value in extra.items()}}


# --- asking ---------------------------------------------------------------------------------------------------


def test_the_form_offers_what_the_acceptable_use_allows_with_each_cap(estate, client_factory):
    page = client_factory(estate.cast.identity_owner).get(ask_url(estate))
    html = page.content.decode()
    assert page.status_code == 200
    assert 'value="github.create_pull_request:write"' in html and 'value="github.read_repo:read"' in html
    assert "up to 8 h · 1 approver" in html  # medium identity, medium tool: the seeded rule
    assert "At most 8 h" in html


def test_an_owner_asks_and_lands_on_the_request(estate, client_factory):
    response = client_factory(estate.cast.identity_owner).post(
        ask_url(estate), form(scope_attr_0="repo", scope_pattern_0="acme/*")
    )
    made = ElevationRequest.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("reviews:request", args=[made.uuid])
    assert (made.scopes, made.scope, made.duration_seconds, made.urgency) == ([WRITE], {"repo": "acme/*"}, 3600, "high")
    assert made.requested_by == estate.cast.identity_owner and made.task.name == "fix-ci"


def test_already_held_says_so_and_creates_nothing(estate, client_factory):
    EntitlementFactory(identity=estate.agent, tool=estate.write, action="write")
    response = client_factory(estate.cast.identity_owner).post(ask_url(estate), form())
    assert response.status_code == 409
    assert "Already held, nothing to ask for: github.create_pull_request:write." in response.content.decode()
    assert not ElevationRequest.objects.exists()


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"scopes": []}, "scopes", "Choose at least one scope."),
        ({"duration_minutes": "0"}, "duration_minutes", "Ensure this value is greater than or equal to 1."),
        ({"duration_minutes": "600"}, "duration_minutes", "Ensure this value is less than or equal to 480."),
        ({"urgency": "panic"}, "urgency", "Select a valid choice."),
        ({"justification": "x" * 2001}, "justification", "Ensure this value has at most 2000 characters"),
        ({"scopes": ["github.unknown:write"]}, "scopes", "Select a valid choice."),
        ({"scope_json": "[1]"}, "scope_json", "object"),
    ],
)
def test_bad_input_is_a_400_beside_its_field_and_writes_nothing(estate, client_factory, changes, field, message):
    response = client_factory(estate.cast.identity_owner).post(ask_url(estate), form(**changes))
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert field in errors and message in " ".join(errors[field])
    assert not ElevationRequest.objects.exists()


def test_a_duration_past_the_strictest_cap_of_what_is_asked_is_refused_naming_it(estate, client_factory):
    ApprovalRuleFactory(name="Reads: an hour", priority=0, action="read", max_duration_seconds=3600)
    asked = form(scopes=[WRITE, "github.read_repo:read"], duration_minutes="120")
    response = client_factory(estate.cast.identity_owner).post(ask_url(estate), asked)
    assert response.status_code == 400
    assert response.context["form"].errors["duration_minutes"] == [messages.ERR_DURATION_CAP.format(cap=3600)]
    assert not ElevationRequest.objects.exists()


def test_the_requester_withdraws_a_pending_request_after_confirming(estate, client_factory):
    made = ask(estate)
    url = reverse("reviews:request_withdraw", args=[made.uuid])
    client = client_factory(estate.cast.identity_owner)
    page = client.get(url)
    assert page.status_code == 200 and "data-confirm=" in page.content.decode()
    assert client.post(url, {"reason": "fixed already"}).status_code == 302
    made.refresh_from_db()
    assert made.state == "withdrawn" and made.closed_note == "fixed already"
    assert client.post(url, {"reason": "again"}).status_code == 409


# --- the inbox and deciding -----------------------------------------------------------------------------------


def test_the_inbox_shows_what_the_manager_decides_on(estate, client_factory):
    made = ask(estate, urgency="high")
    EntitlementFactory(identity=estate.agent, tool=estate.read, action="read")
    response = client_factory(estate.cast.manager).get(reverse("reviews:inbox"))
    html = response.content.decode()
    assert response.status_code == 200 and f'id="card-{made.uuid.hex}"' in html
    for expected in ("triage-bot", "High urgency", "CI is red on main", "Triage issues", "github.read_repo",
                     "until about", "This is its first request.", "1 waiting"):  # fmt: skip
        assert expected in html, expected


def test_the_inbox_lists_the_most_urgent_first(estate, client_factory):
    low = ask(estate, task="a", urgency="low")
    high = ask(estate, task="b", urgency="high")
    normal = ask(estate, task="c", urgency="normal")
    html = client_factory(estate.cast.manager).get(reverse("reviews:inbox")).content.decode()
    positions = [html.index(f"card-{r.uuid.hex}") for r in (high, normal, low)]
    assert positions == sorted(positions)


def test_the_owner_and_the_managers_manager_do_not_see_it_in_their_inbox(estate, client_factory):
    ask(estate)
    for person in (estate.cast.identity_owner, estate.boss, estate.cast.auditor):
        html = client_factory(person).get(reverse("reviews:inbox")).content.decode()
        assert "Nothing waits for your decision" in html, person


def test_approving_less_inline_answers_the_card_and_the_counts(estate, client_factory, htmx_client):
    made = ask(estate, duration_seconds=7200)
    sign_in(htmx_client, estate.cast.manager)
    response = htmx_client.post(
        reverse("reviews:request_decide", args=[made.uuid]),
        decide(made, "approve", duration_minutes="30", comment="half an hour is enough"),
        HTTP_HX_TARGET=f"card-{made.uuid.hex}",
    )
    html = response.content.decode()
    made.refresh_from_db()
    assert response.status_code == 200 and made.state == "approved" and made.granted_duration_seconds == 1800
    assert "by <strong>" in html and "half an hour is enough" in html and "for 30 min" in html
    assert 'id="inbox-count" hx-swap-oob="true">0 waiting' in html and 'id="nav-count-elevation-inbox"' in html
    assert "toast" in response["HX-Trigger"]


def test_a_refused_decision_comes_back_into_the_card_with_its_reason(estate, client_factory, htmx_client):
    made = ask(estate, duration_seconds=3600, scope={"repo": "acme/*"})
    sign_in(htmx_client, estate.cast.manager)
    response = htmx_client.post(
        reverse("reviews:request_decide", args=[made.uuid]),
        decide(made, "approve", scope_json='{"repo": "**"}'),
        HTTP_HX_TARGET=f"card-{made.uuid.hex}",
    )
    assert response.status_code == 400 and "never widen it" in response.content.decode()
    made.refresh_from_db()
    assert made.state == "pending" and not made.approvals.exists()


def test_a_deny_without_javascript_redirects_to_the_decided_request(estate, client_factory):
    made = ask(estate)
    client = client_factory(estate.cast.manager)
    response = client.post(reverse("reviews:request_decide", args=[made.uuid]), decide(made, "deny", comment="no"))
    assert response.status_code == 302
    page = client.get(response["Location"]).content.decode()
    manager = estate.cast.manager
    assert "Denied" in page and (manager.get_full_name() or manager.username) in page and "“no”" in page
    assert AuditEntry.objects.filter(action="elevation_request.deny").exists()


def test_the_owner_may_not_decide_their_own_request(estate, client_factory):
    made = ask(estate)
    response = client_factory(estate.cast.identity_owner).post(
        reverse("reviews:request_decide", args=[made.uuid]), decide(made, "approve")
    )
    assert response.status_code == 403
    made.refresh_from_db()
    assert made.state == "pending"


def test_a_notification_link_lands_on_the_request_after_sign_in(estate, client):
    made = ask(estate)
    url = reverse("reviews:request", args=[made.uuid])
    response = client.get(url)
    assert response.status_code == 302 and response["Location"].endswith("?next=" + url)


# --- history --------------------------------------------------------------------------------------------------


def test_the_history_filters_by_state_identity_requester_and_time(estate, client_factory):
    first = ask(estate, task="one")
    ask(estate, task="two")
    services.request_deny(elevation_request=first, actor=estate.cast.manager, comment="no")
    client = client_factory(estate.cast.auditor)
    url = reverse("reviews:history")
    assert client.get(url).content.decode().count("<tr>") == 3  # the head and two rows
    denied = client.get(url, {"state": "denied"}).content.decode()
    assert denied.count("<tr>") == 2 and "Denyd" not in denied and "Denied by" in denied
    assert client.get(url, {"identity": "nobody"}).content.decode().count("<tr>") == 0
    assert client.get(url, {"requester": "cast-identity_owner"}).content.decode().count("<tr>") == 3
    assert client.get(url, {"since": "2999-01-01T00:00"}).content.decode().count("<tr>") == 0
    assert client.get(url, {"since": "2030-01-01T00:00", "until": "2020-01-01T00:00"}).status_code == 400


def test_the_identity_page_offers_the_request_form_to_its_owner(estate, client_factory):
    ask(estate)
    html = client_factory(estate.cast.identity_owner).get(reverse("identity", args=[estate.agent.uuid])).content
    assert b"Request elevation" in html and b"1 pending" in html
    html = client_factory(estate.cast.auditor).get(reverse("identity", args=[estate.agent.uuid])).content
    assert b"Request elevation" not in html and b"1 pending" in html
