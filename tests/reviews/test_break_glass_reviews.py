"""The break-glass review list (/reviews/break-glass/): who may open it (anonymous, wrong role, a manager of
nobody here, allowed), the rows each sees and filters, closing a review from its row (the break-glass user
themself, an owner, the wrong role and a record they cannot see are refused and nothing is written), the
work-list item of those who may close, and the elevation area's tabs that lead there."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from agentiam import worklist
from audit.models import AuditEntry
from identities.models import Ownership
from reviews.models import BreakGlass
from reviews.services.breakglass import ERR_CLOSER_OWNER, ERR_CLOSER_SELF, break_glass_close, break_glass_start
from tests.cast import check_access, make_person
from tests.factories import BreakGlassFactory, IdentityFactory, OwnershipFactory

pytestmark = pytest.mark.django_db

LIST = "/reviews/break-glass/"
WRITE = ["github.create_pull_request:write"]
READERS = ["manager", "administrator", "security_analyst", "compliance_officer", "auditor"]
CLOSERS = ["manager", "administrator", "security_analyst", "compliance_officer"]


def close_url(row) -> str:
    return reverse("reviews:break-glass-list-close", args=[row.uuid])


def note(text="looked at the trail: justified") -> dict:
    return {"note": text}


@pytest.fixture
def glass(estate):
    """The estate's owner broke the glass on the agent."""
    return break_glass_start(identity=estate.agent, actor=estate.cast.identity_owner, task="incident-7",
                             scopes=WRITE, reason="production is down")  # fmt: skip


@pytest.fixture
def people(estate):
    """A manager of nobody here (sees none of it); a manager who co-owns the agent; another identity's owner."""
    lone = make_person("lone-manager", "manager", employee_id="C-lone")
    co_owner = make_person("co-owner-manager", "manager", "identity_owner", employee_id="C-co")
    OwnershipFactory(identity=estate.agent, person=co_owner, role="technical")
    other_owner = make_person("other-owner", "identity_owner")
    OwnershipFactory(identity=IdentityFactory(), person=other_owner)
    return {"lone": lone, "co_owner": co_owner, "other_owner": other_owner}


def closing_writes() -> tuple[int, int]:
    return BreakGlass.objects.filter(closed_at__isnull=False).count(), AuditEntry.objects.filter(
        action="break_glass.close"
    ).count()


# --- the list -------------------------------------------------------------------------------------------------


def test_the_list_is_for_those_who_close_reviews_and_auditors(estate, client_factory, glass):
    check_access(client_factory, LIST, cast=estate.cast, allowed=READERS, expect_allowed=(200,))
    for role in READERS:
        assert f'id="bg-{glass.uuid.hex}"' in client_factory(estate.cast[role]).get(LIST).content.decode(), role


def test_a_manager_sees_only_the_break_glass_of_identities_their_reports_own(estate, client_factory, glass, people):
    html = client_factory(people["lone"]).get(LIST).content.decode()
    assert f'id="bg-{glass.uuid.hex}"' not in html and "No break-glass yet" in html
    assert client_factory(people["lone"]).get(reverse("reviews:break-glass", args=[glass.uuid])).status_code == 404


def test_the_close_form_is_only_on_rows_the_person_may_close(estate, client_factory, glass, people):
    form = f'action="{close_url(glass)}"'
    for role in ("security_analyst", "manager", "administrator", "compliance_officer"):
        assert form in client_factory(estate.cast[role]).get(LIST).content.decode(), role
    assert form not in client_factory(estate.cast.auditor).get(LIST).content.decode()  # read-only
    assert form not in client_factory(people["co_owner"]).get(LIST).content.decode()  # an owner of the agent


def test_the_filters_say_open_overdue_and_closed(estate, client_factory, glass):
    owner, analyst, now = estate.cast.identity_owner, estate.cast.security_analyst, timezone.now()
    day_ago = {"grant__starts_at": now - timedelta(hours=25), "grant__ends_at": now - timedelta(hours=24)}
    old = BreakGlassFactory(identity=IdentityFactory(owner=owner), person=owner, **day_ago)
    closed = BreakGlassFactory(identity=IdentityFactory(owner=owner), person=owner)
    break_glass_close(break_glass=closed, actor=analyst, note="fine")
    client = client_factory(estate.cast.auditor)

    def shown(**params):
        html = client.get(LIST, params).content.decode()
        return {row.uuid for row in (glass, old, closed) if f'id="bg-{row.uuid.hex}"' in html}

    assert shown() == {glass.uuid, old.uuid, closed.uuid}
    assert shown(state="open") == {glass.uuid, old.uuid}
    assert shown(state="overdue") == {old.uuid}
    assert shown(state="closed") == {closed.uuid}
    assert shown(person="cast-identity_owner", identity="triage") == {glass.uuid}
    assert "Overdue" in client.get(LIST, {"state": "overdue"}).content.decode()
    assert client.get(LIST, {"state": "nope"}).status_code == 400
    assert client.get(LIST, {"since": "2026-12-02T00:00", "until": "2026-12-01T00:00"}).status_code == 400


# --- closing from the list ------------------------------------------------------------------------------------


def test_closing_from_the_list_matrix_writes_nothing_refused(estate, client_factory, glass, people):
    url = close_url(glass)
    before = closing_writes()
    anonymous = client_factory(None).post(url, note())
    assert anonymous.status_code == 302 and anonymous["Location"].startswith(reverse("login"))
    for who, status in (("identity_owner", 403), ("auditor", 403), ("outsider", 403)):  # the user themself, roles
        assert client_factory(estate.cast[who]).post(url, note()).status_code == status, who
    assert client_factory(people["other_owner"]).post(url, note()).status_code == 403  # no closer's role
    assert client_factory(people["lone"]).post(url, note()).status_code == 404  # cannot see it
    owner = client_factory(people["co_owner"]).post(url, note(), HTTP_HX_REQUEST="true")
    assert owner.status_code == 403 and ERR_CLOSER_OWNER in owner.content.decode()
    blank = client_factory(estate.cast.security_analyst).post(url, note("  "), HTTP_HX_REQUEST="true")
    assert blank.status_code == 400 and 'id="bg-' in blank.content.decode()
    assert closing_writes() == before


def test_the_person_who_broke_the_glass_may_not_close_it_even_with_a_closers_role(estate, client_factory):
    owner_manager = make_person("owner-analyst", "security_analyst", "identity_owner", employee_id="C-oa")
    OwnershipFactory(identity=estate.agent, person=owner_manager, role="backup")
    row = break_glass_start(identity=estate.agent, actor=owner_manager, task="t", scopes=WRITE, reason="down")
    # No longer an owner: what refuses them now is that the break-glass was theirs.
    Ownership.objects.filter(identity=estate.agent, person=owner_manager).update(valid_to=timezone.now())
    refused = client_factory(owner_manager).post(close_url(row), note(), HTTP_HX_REQUEST="true")
    assert refused.status_code == 403 and ERR_CLOSER_SELF in refused.content.decode()
    assert BreakGlass.objects.get(pk=row.pk).closed_at is None


def test_a_closer_closes_it_from_the_list_and_the_row_and_count_change(estate, client_factory, glass):
    client = client_factory(estate.cast.security_analyst)
    assert "1 for you to close" in client.get(LIST).content.decode()
    answer = client.post(close_url(glass), note(), HTTP_HX_REQUEST="true")
    html = answer.content.decode()
    assert answer.status_code == 200 and html.lstrip().startswith(f'<tr id="bg-{glass.uuid.hex}"')
    assert "looked at the trail: justified" in html and 'id="break-glass-to-close" hx-swap-oob="true"' in html
    assert "0 for you to close" in html and "closed" in answer["HX-Trigger"]  # the toast
    row = BreakGlass.objects.get(pk=glass.pk)
    assert row.closed_by == estate.cast.security_analyst and row.close_note == "looked at the trail: justified"
    entry = AuditEntry.objects.get(action="break_glass.close")
    assert entry.actor_label == "cast-security_analyst" and entry.changes["note"] == row.close_note
    again = client.post(close_url(glass), note())
    assert again.status_code == 404 or again.status_code == 409  # closed: nothing more to close
    assert AuditEntry.objects.filter(action="break_glass.close").count() == 1


def test_without_javascript_closing_goes_back_to_the_list(estate, client_factory, glass):
    answer = client_factory(estate.cast.compliance_officer).post(close_url(glass), note())
    assert answer.status_code == 302 and answer["Location"] == LIST
    assert BreakGlass.objects.get(pk=glass.pk).closed_by == estate.cast.compliance_officer


# --- the work list and the tabs -------------------------------------------------------------------------------


def item(person):
    return next((i for i in worklist.items_for(person) if i.key == "break_glass_reviews"), None)


def test_the_work_list_counts_open_reviews_the_person_may_close(estate, glass, people):
    found = item(estate.cast.security_analyst)
    assert found.count == 1 and found.oldest == glass.started_at and found.url.startswith(LIST + "?state=open")
    assert item(estate.cast.manager).count == 1
    for person in (estate.cast.identity_owner, estate.cast.auditor, people["co_owner"], people["lone"]):
        assert item(person) is None, person
    break_glass_close(break_glass=glass, actor=estate.cast.administrator, note="ok")
    assert item(estate.cast.security_analyst) is None


def test_the_home_page_work_list_shows_it(estate, client_factory, glass):
    html = client_factory(estate.cast.security_analyst).get("/worklist/", HTTP_HX_REQUEST="true").content.decode()
    assert "Break-glass reviews to close" in html and 'href="/reviews/break-glass/?state=open' in html


def test_the_elevation_tabs_lead_there_only_for_those_who_may_open_it(estate, client_factory):
    link = f'href="{LIST}"'
    assert link in client_factory(estate.cast.manager).get(reverse("reviews:inbox")).content.decode()
    for role in ("auditor", "security_analyst", "administrator", "compliance_officer"):
        assert link in client_factory(estate.cast[role]).get(reverse("reviews:history")).content.decode(), role
    owner = client_factory(estate.cast.identity_owner)
    assert link not in owner.get(reverse("reviews:history")).content.decode()
    assert owner.get(LIST).status_code == 403  # hidden ⇔ forbidden
    page = client_factory(estate.cast.auditor).get(LIST).content.decode()
    assert 'aria-current="page">Break-glass reviews' in page and f'href="{reverse("reviews:history")}"' in page
