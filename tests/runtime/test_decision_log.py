"""The decision log page: who sees which decisions, filters, keyset pages, rule ids linked to what they mean."""

import pytest
from django.db import DatabaseError, transaction
from django.utils import timezone

from agentiam.permissions import ALL_ROLES, Role
from identities.runtime.models import PolicyDecision
from tests.cast import check_access, make_person
from tests.runtime_support import access_token, build_estate, decide

pytestmark = pytest.mark.django_db


@pytest.fixture
def estate(cast):
    estate = build_estate(cast)
    token = access_token()["access_token"]
    estate.extra["allow"] = decide(estate.credential, token).json()
    estate.extra["deny"] = decide(estate.credential, token, resource={"repo": "other/x"}).json()
    estate.extra["other"] = decide(estate.other_credential, token).json()
    return estate


def rows(response) -> list[PolicyDecision]:
    return list(response.context["table"].rows)


def test_every_role_may_open_the_decision_log_and_outsiders_may_not(estate, client_factory):
    check_access(client_factory, "/runtime/decisions/", cast=estate.cast, allowed=ALL_ROLES)


def test_the_see_everything_roles_see_every_decision_and_owners_only_their_identities(estate, client_factory):
    assert len(rows(client_factory(estate.cast.auditor).get("/runtime/decisions/"))) == 3
    assert len(rows(client_factory(estate.cast.identity_owner).get("/runtime/decisions/"))) == 3  # owns triage-bot
    stranger = make_person("owner-elsewhere", Role.IDENTITY_OWNER)
    response = client_factory(stranger).get("/runtime/decisions/")
    assert response.status_code == 200 and rows(response) == []
    detail = client_factory(stranger).get(f"/runtime/decisions/{estate.extra['allow']['decision_id']}/")
    assert detail.status_code == 404


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("decision=allow", 1),
        ("decision=deny", 2),
        ("tool=github.", 3),
        ("tool=vault.", 0),
    ],
)
def test_filters_narrow_the_log(estate, client_factory, query, expected):
    response = client_factory(estate.cast.security_analyst).get(f"/runtime/decisions/?{query}")
    assert len(rows(response)) == expected


def test_filters_by_identity_gateway_and_time(estate, client_factory):
    client = client_factory(estate.cast.security_analyst)
    response = client.get(f"/runtime/decisions/?identity={estate.agent.uuid}")
    assert len(rows(response)) == 3 and response.context["identity"] == estate.agent
    assert len(rows(client.get(f"/runtime/decisions/?gateway={estate.other_gateway.uuid}"))) == 1
    future = (timezone.now() + timezone.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    assert rows(client.get(f"/runtime/decisions/?since={future}")) == []
    bad = client.get(f"/runtime/decisions/?since={future}&until=2000-01-01T00:00")
    assert bad.status_code == 200 and not bad.context["table"].filters_valid


def test_reasons_link_to_their_explanation(estate, client_factory):
    client = client_factory(estate.cast.auditor)
    page = client.get("/runtime/decisions/").content.decode()
    assert 'href="/runtime/reasons/#allow-standing-entitlement"' in page
    assert 'href="/runtime/reasons/#token-other-audience"' in page
    reasons = client.get("/runtime/reasons/").content.decode()
    assert 'id="allow-standing-entitlement"' in reasons and "An active standing entitlement covers" in reasons
    assert 'id="token-other-audience"' in reasons


def test_a_decision_shows_what_was_evaluated_and_why(estate, client_factory):
    client = client_factory(estate.cast.security_analyst)
    response = client.get(f"/runtime/decisions/{estate.extra['deny']['decision_id']}/")
    assert response.status_code == 200
    assert response.context["reasons"] == [("default-deny", "No rule allows this call, so it is denied.")]
    assert "standing_covers" in response.context["evaluated"]
    check_access(
        client_factory, f"/runtime/decisions/{estate.extra['allow']['decision_id']}/", cast=estate.cast,
        allowed=ALL_ROLES,
    )  # fmt: skip


def test_pages_of_the_log_are_keyset_cursors_with_a_pinned_query_count(
    estate, client_factory, django_assert_max_num_queries
):
    token = access_token(task="busy")["access_token"]
    for _ in range(55):
        decide(estate.credential, token)
    client = client_factory(estate.cast.auditor)
    with django_assert_max_num_queries(10):
        first = client.get("/runtime/decisions/")
    table = first.context["table"]
    assert len(table.rows) == 50 and table.next_url
    second = client.get(table.next_url)
    assert len(rows(second)) == 8
    assert not {r.pk for r in table.rows} & {r.pk for r in rows(second)}


def test_the_log_partial_is_served_to_htmx(estate, client_factory):
    client = client_factory(estate.cast.auditor)
    response = client.get("/runtime/decisions/?decision=deny", HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and b"<html" not in response.content and b"decision-table" in response.content


def test_the_decision_log_is_append_only(estate):
    with pytest.raises(DatabaseError), transaction.atomic():
        PolicyDecision.objects.filter(decision="allow").update(decision="deny")
    with pytest.raises(DatabaseError), transaction.atomic():
        PolicyDecision.objects.all().delete()


def test_the_identity_page_links_to_its_decisions(estate, client_factory):
    page = client_factory(estate.cast.identity_owner).get(f"/identities/{estate.agent.uuid}/").content.decode()
    link = f'href="/runtime/decisions/?identity={estate.agent.uuid}"'
    assert link in page
