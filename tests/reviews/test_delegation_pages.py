"""Delegations while away in the browser: an approver names a delegate for a period (an active approver, never
themself; bad periods named beside the field, nothing written), sees the delegations they made and those made
to them, and revokes theirs after confirming; the delegate sees it but may not revoke it; routing follows it at
once; administrators see all and may name one for any approver. Each write leaves its audit entry."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from agentiam.permissions import Role
from audit.models import AuditEntry
from reviews.inbox_queries import forget, requests_to_decide
from reviews.models import Delegation
from tests.cast import make_person
from tests.reviews.support import ask

pytestmark = pytest.mark.django_db

YES = {"confirm": "yes"}


@pytest.fixture
def deputy(db):
    return make_person("deputy", Role.MANAGER, first_name="Dana", last_name="Deputy", employee_id="C-deputy")


def period(days: int = 5, start: int = 0) -> dict:
    now = timezone.now().replace(second=0, microsecond=0)
    starts, ends = now + timedelta(days=start), now + timedelta(days=start + days)
    return {"starts_at": starts.strftime("%Y-%m-%dT%H:%M"), "ends_at": ends.strftime("%Y-%m-%dT%H:%M")}


def test_a_manager_names_a_delegate_and_the_request_is_routed_to_them_until_revoked(estate, client_factory, deputy):
    manager = estate.cast.manager
    client = client_factory(manager)
    form = client.get(reverse("reviews:delegation-new"))
    assert form.status_code == 200
    choices = [choice for choice, _ in form.context["form"].fields["delegate"].choices]
    assert "deputy" in [str(c) for c in choices] and manager.username not in [str(c) for c in choices]
    assert "cast-auditor" not in [str(c) for c in choices]  # not an approver
    made = client.post(reverse("reviews:delegation-new"), {"delegate": "deputy", "reason": "holiday", **period()})
    assert made.status_code == 302 and made.headers["Location"] == reverse("reviews:delegations")
    row = Delegation.objects.get()
    assert (row.approver, row.delegate, row.reason) == (manager, deputy, "holiday")
    assert AuditEntry.objects.filter(action="delegation.create", actor_id=manager.pk).exists()

    asked = ask(estate)
    assert asked.pk in requests_to_decide(deputy).values_list("pk", flat=True)
    assert asked.pk not in requests_to_decide(manager).values_list("pk", flat=True)

    listed = client.get(reverse("reviews:delegations")).content.decode()
    assert "Dana Deputy" in listed and reverse("reviews:delegation-revoke", args=[row.uuid]) in listed
    theirs = client_factory(deputy).get(reverse("reviews:delegations")).content.decode()
    assert reverse("reviews:delegation-revoke", args=[row.uuid]) not in theirs and "You" in theirs

    url = reverse("reviews:delegation-revoke", args=[row.uuid])
    assert client_factory(deputy).post(url, YES).status_code == 403
    assert "data-confirm" in client.get(url).content.decode()
    assert client.post(url, YES).status_code == 302
    row.refresh_from_db()
    assert row.revoked_at is not None
    assert AuditEntry.objects.filter(action="delegation.revoke", actor_id=manager.pk).exists()
    forget(manager)  # what the manager decides is cached on the user object, per request
    assert asked.pk in requests_to_decide(manager).values_list("pk", flat=True)
    assert client.post(url, YES).status_code == 409
    assert client.get(url).status_code == 302  # no longer live: back to the list


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"delegate": "cast-auditor"}, "delegate"),  # not an approver: not a choice
        ({"delegate": "cast-manager"}, "delegate"),  # oneself
        ({"delegate": "nobody"}, "delegate"),
        ({"ends_at": "yesterday"}, "ends_at"),
        ({**period(days=-1, start=3)}, "ends_at"),  # ends before it starts
        ({**period(days=1, start=-3)}, "ends_at"),  # over already
        ({"reason": "x" * 2001}, "reason"),
    ],
)
def test_bad_input_is_named_beside_its_field_and_nothing_is_written(estate, client_factory, deputy, changes, field):
    data = {"delegate": "deputy", **period(), **changes}
    response = client_factory(estate.cast.manager).post(reverse("reviews:delegation-new"), data)
    assert response.status_code == 400
    assert field in response.context["form"].errors, response.context["form"].errors
    assert not Delegation.objects.exists() and not AuditEntry.objects.filter(action="delegation.create").exists()


def test_only_approvers_name_delegates(estate, client_factory, deputy):
    for person in (estate.cast.identity_owner, estate.cast.auditor, estate.cast.security_analyst):
        client = client_factory(person)
        assert client.get(reverse("reviews:delegation-new")).status_code == 403, person
        assert client.post(reverse("reviews:delegation-new"), {"delegate": "deputy", **period()}).status_code == 403
        assert "Name a delegate" not in client.get(reverse("reviews:delegations")).content.decode()
    assert not Delegation.objects.exists()


def test_administrators_see_every_delegation_and_may_name_one_for_an_approver(estate, client_factory, deputy):
    admin = estate.cast.administrator
    client = client_factory(admin)
    response = client.post(reverse("reviews:delegation-new"),
                           {"approver": "cast-manager", "delegate": "deputy", **period()})  # fmt: skip
    assert response.status_code == 302
    row = Delegation.objects.get()
    assert row.approver == estate.cast.manager and row.delegate == deputy
    assert client.get(reverse("reviews:delegations")).content.decode().count("Revoke…") == 1
    other = make_person("other-manager", Role.MANAGER)
    assert reverse("reviews:delegation-revoke", args=[row.uuid]) not in (
        client_factory(other).get(reverse("reviews:delegations")).content.decode()
    )
    assert client_factory(other).get(reverse("reviews:delegation-revoke", args=[row.uuid])).status_code == 404
    refused = client.post(reverse("reviews:delegation-new"),
                          {"approver": "cast-auditor", "delegate": "deputy", **period()})  # fmt: skip
    assert refused.status_code == 400 and "approver" in refused.context["form"].errors


def test_the_list_filters_and_says_when_there_is_nothing(estate, client_factory, deputy):
    client = client_factory(estate.cast.manager)
    assert "No delegations" in client.get(reverse("reviews:delegations")).content.decode()
    client.post(reverse("reviews:delegation-new"), {"delegate": "deputy", **period(start=2)})
    upcoming = client.get(reverse("reviews:delegations"), {"state": "upcoming"}).content.decode()
    assert "Upcoming" in upcoming
    live = client.get(reverse("reviews:delegations"), {"state": "live"}).content.decode()
    assert "Nothing matches these filters" in live
    assert client.get(reverse("reviews:delegations"), {"state": "forever"}).status_code == 400
