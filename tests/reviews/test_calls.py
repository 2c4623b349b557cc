"""Deciding per-call re-authorisations: separation of duties in the service (and the database), the pages
and their htmx approve / deny, the audit trail, and the latency of the path."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from agentiam.errors import Conflict, PermissionDenied
from agentiam.permissions import SEE_EVERYTHING, Role
from audit.models import AuditEntry
from identities import services as registry
from identities.models import Identity, Profile
from identities.runtime import services as runtime
from identities.runtime.models import CallAuthorisation
from reviews import services
from tests.cast import check_access, make_person
from tests.factories import CallAuthorisationFactory

pytestmark = pytest.mark.django_db

READERS = SEE_EVERYTHING | {Role.MANAGER}


@pytest.fixture
def call(estate):
    return CallAuthorisationFactory(identity=estate.agent, tool=estate.write, tool_key=estate.write.key)


@pytest.fixture
def stranger_manager(cast):
    """A manager nobody who owns the estate's agent reports to."""
    return make_person("other-manager", Role.MANAGER)


def test_the_owners_manager_approves_and_it_is_audited(estate, call):
    decided = services.call_approve(call=call, actor=estate.cast.manager, comment="once")
    assert decided.state == "approved" and decided.decided_by == estate.cast.manager
    assert decided.valid_until - decided.decided_at == timedelta(minutes=5)
    entry = AuditEntry.objects.get(action="call_authorisation.approve")
    assert entry.object_id == str(call.uuid) and entry.changes["comment"] == "once"


def test_a_deny_is_final_and_audited(estate, call):
    services.call_deny(call=call, actor=estate.cast.manager)
    assert CallAuthorisation.objects.get(pk=call.pk).state == "denied"
    assert AuditEntry.objects.filter(action="call_authorisation.deny").exists()
    with pytest.raises(Conflict):
        services.call_approve(call=call, actor=estate.cast.manager)


def test_an_owner_who_is_a_manager_may_not_decide_its_calls(estate, call):
    estate.cast.identity_owner.groups.add(*estate.cast.manager.groups.all())
    with pytest.raises(PermissionDenied, match="owner"):
        services.call_approve(call=call, actor=estate.cast.identity_owner)


def test_the_person_of_a_human_identity_may_not_approve_its_calls(estate, cast):
    person = estate.cast.manager  # sees it (their report owns it), and is its person
    human = registry.identity_create(
        actor=cast.identity_owner, kind="human", name="boss-account", environment="dev", exposure="internal"
    )
    Identity.objects.filter(pk=human.pk).update(person=person)
    made = CallAuthorisationFactory(identity=Identity.objects.get(pk=human.pk), tool=estate.write)
    with pytest.raises(PermissionDenied):
        services.call_approve(call=made, actor=person)


def test_wrong_roles_and_other_managers_cannot_decide(estate, call, stranger_manager):
    with pytest.raises(PermissionDenied):
        services.call_approve(call=call, actor=estate.cast.auditor)  # sees it, is no approver
    with pytest.raises(Exception) as raised:
        services.call_approve(call=call, actor=stranger_manager)  # does not see it
    assert raised.type.__name__ == "Http404"
    assert CallAuthorisation.objects.get(pk=call.pk).state == "pending"


def test_a_lapsed_request_cannot_be_approved(estate, call):
    CallAuthorisation.objects.filter(pk=call.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(Conflict, match="lapsed"):
        services.call_approve(call=call, actor=estate.cast.manager)


def test_an_oversized_comment_is_refused_naming_the_field(estate, call):
    with pytest.raises(Exception) as raised:
        services.call_approve(call=call, actor=estate.cast.manager, comment="x" * 2001)
    assert "comment" in raised.value.message_dict
    assert CallAuthorisation.objects.get(pk=call.pk).state == "pending"


def test_the_pages_permission_matrix(estate, call, client_factory, stranger_manager):
    check_access(client_factory, "/reviews/calls/", cast=estate.cast, allowed=READERS)
    check_access(
        client_factory, f"/reviews/calls/{call.uuid}/", cast=estate.cast, allowed=READERS,
        object_denied=[stranger_manager],
    )  # fmt: skip


def test_approve_matrix_anonymous_wrong_role_other_manager_and_allowed(estate, call, client_factory, stranger_manager):
    url = f"/reviews/calls/{call.uuid}/approve/"
    statuses = check_access(
        client_factory, url, cast=estate.cast, allowed=[Role.MANAGER], method="post", data={"comment": ""},
        object_denied=[stranger_manager],
    )  # fmt: skip
    assert statuses["manager"] == 302
    assert CallAuthorisation.objects.get(pk=call.pk).state == "approved"


def test_deny_matrix(estate, call, client_factory, stranger_manager):
    check_access(
        client_factory, f"/reviews/calls/{call.uuid}/deny/", cast=estate.cast, allowed=[Role.MANAGER],
        method="post", data={}, object_denied=[stranger_manager],
    )  # fmt: skip
    assert CallAuthorisation.objects.get(pk=call.pk).state == "denied"


def test_htmx_approve_swaps_the_card_and_a_second_try_says_why(estate, call, client_factory):
    client = client_factory(estate.cast.manager)
    page = client.get("/reviews/calls/").content.decode()
    assert f'id="call-{call.uuid}"' in page and "Approve once" in page
    response = client.post(f"/reviews/calls/{call.uuid}/approve/", {"comment": "fine"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and "Approve once" not in response.content.decode()
    assert "one matching call until" in response.content.decode()
    again = client.post(f"/reviews/calls/{call.uuid}/deny/", {}, HTTP_HX_REQUEST="true")
    assert again.status_code == 409 and "approved" in again.content.decode()


def test_an_owner_who_is_a_manager_sees_no_buttons_and_is_refused(estate, call, client_factory):
    owner = estate.cast.identity_owner
    owner.groups.add(*estate.cast.manager.groups.all())
    client = client_factory(owner)
    page = client.get(f"/reviews/calls/{call.uuid}/").content.decode()
    assert "Approve once" not in page and "owner of this identity" in page
    assert client.post(f"/reviews/calls/{call.uuid}/approve/", {}).status_code == 403
    assert CallAuthorisation.objects.get(pk=call.pk).state == "pending"


def test_latency_of_the_path_is_median_and_p90_over_seven_days(estate):
    now = timezone.now()
    for seconds in (10, 20, 30, 40, 100):
        CallAuthorisationFactory(
            identity=estate.agent, tool=estate.write, state="consumed", requested_at=now - timedelta(seconds=seconds),
            decided_at=now - timedelta(seconds=seconds / 2), decided_by=estate.cast.manager,
            valid_until=now + timedelta(minutes=5), consumed_at=now,
        )  # fmt: skip
    CallAuthorisationFactory(identity=estate.agent, tool=estate.write, expires_at=now - timedelta(minutes=1))
    CallAuthorisationFactory(identity=estate.agent, tool=estate.write, expires_at=now - timedelta(days=8))  # older
    latency = runtime.call_latency(days=7)
    assert latency.count == 5 and latency.median == pytest.approx(30) and latency.p90 == pytest.approx(76)
    assert latency.p95 == pytest.approx(88) and latency.approve_p95 == pytest.approx(44)
    assert latency.lapsed == 1  # the request whose expiry passed this week, nobody having answered
    assert runtime.call_latency(identity_ids=[]).count == 0 and runtime.call_latency(identity_ids=[]).lapsed == 0


def test_the_worklist_counts_the_managers_waiting_calls(estate, call):
    from agentiam.worklist import items_for

    Profile.objects.filter(user=estate.cast.identity_owner).update(manager=estate.cast.manager)
    items = {item.key: item for item in items_for(estate.cast.manager)}
    assert items["per_call"].count == 1


def test_the_elevation_inbox_slot_shows_the_managers_waiting_calls_and_the_latency(estate, call, rf):
    from agentiam.slots import render_slots

    request = rf.get("/reviews/inbox/")
    request.user = estate.cast.manager
    html = render_slots("elevation_inbox", request, None)
    assert f'id="call-{call.uuid}"' in html and "Approve once" in html and "Per-call approval latency" in html
    request.user = estate.cast.auditor  # not a decider: the slot is not theirs
    assert "call-" not in render_slots("elevation_inbox", request, None)
