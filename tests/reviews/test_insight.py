"""Elevation insight (reviews.insight): standing against JIT, time to approve, how requests end — figures over
what the person may see, at a query count that does not grow with the rows; on the dashboard and the
identity page."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from identities.models import Entitlement, Identity
from reviews import insight, services
from reviews.models import ElevationRequest
from tests.factories import CallAuthorisationFactory, ElevationRequestFactory, EntitlementFactory
from tests.reviews.support import ask

pytestmark = pytest.mark.django_db


def aged(made, minutes):
    ElevationRequest.objects.filter(pk=made.pk).update(created_at=timezone.now() - timedelta(minutes=minutes))
    return made


def test_the_figures_count_ends_times_and_live_access(estate):
    manager = estate.cast.manager
    for n, minutes in enumerate([10, 20, 30, 40, 100]):
        services.request_approve(elevation_request=aged(ask(estate, task=f"t{n}"), minutes), actor=manager)
    services.request_deny(elevation_request=ask(estate, task="denied"), actor=manager)
    ask(estate, task="waiting")
    lapsed = ask(estate, task="lapsed")
    ElevationRequest.objects.filter(pk=lapsed.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    EntitlementFactory(identity=estate.agent, tool=estate.read, action="read")
    found = insight.figures(ElevationRequest.objects.all(), Entitlement.objects.filter(identity=estate.agent))
    assert (found.requests, found.approved, found.denied, found.pending, found.expired) == (8, 5, 1, 1, 1)
    assert found.approval_rate == 83 and found.denial_rate == 17  # 5 of 6 decided by people
    assert 29 * 60 < found.median_seconds < 31 * 60 and 70 * 60 < found.p90_seconds < 100 * 60
    assert (found.standing_read, found.standing_privileged, found.jit_live) == (1, 0, 5)
    assert found.jit_share == 100 and found.break_glass is None  # no identities given: not counted
    assert insight.duration(found.median_seconds) == "30 min"


def test_the_dashboard_panel_counts_only_what_the_person_may_see(estate, client_factory):
    ask(estate)
    ElevationRequestFactory()  # someone else's request, on an identity the manager has nothing to do with
    response = client_factory(estate.cast.manager).get("/")
    [panel] = [p for p in response.context["panels"] if p["key"] == "elevation"]
    assert panel["insight"].pending == 1
    assert "median to approve" in response.content.decode()
    everything = client_factory(estate.cast.auditor).get("/")
    [panel] = [p for p in everything.context["panels"] if p["key"] == "elevation"]
    assert panel["insight"].pending == 2


def test_the_panel_is_not_for_people_without_a_role(estate, client_factory):
    response = client_factory(estate.cast.outsider).get("/")
    assert all(p["key"] != "elevation" for p in response.context["panels"])


def test_the_identity_page_shows_its_own_insight(estate, client_factory):
    services.request_approve(elevation_request=aged(ask(estate), 15), actor=estate.cast.manager)
    html = client_factory(estate.cast.identity_owner).get(f"/identities/{estate.agent.uuid}/").content.decode()
    assert 'id="elevation-title"' in html and "15 min" in html
    other = client_factory(estate.cast.outsider).get(f"/identities/{estate.agent.uuid}/")
    assert other.status_code == 403  # the page decides who sees the identity; the slot follows


def test_the_insight_query_count_does_not_grow_with_the_rows(estate, rf):
    def count():
        request = rf.get("/")
        request.user = estate.cast.manager
        with CaptureQueriesContext(connection) as captured:
            insight.dashboard_panel(request)
        with CaptureQueriesContext(connection) as one:
            insight.identity_panel(request, estate.agent)
        return len(captured), len(one)

    ask(estate, task="a")
    ask(estate, task="b")
    used_call(estate, 30)
    count()  # warm: the person's roles are read once a request
    few = count()
    for n in range(20):
        services.request_approve(elevation_request=ask(estate, task=f"many-{n}"), actor=estate.cast.manager)
        used_call(estate, 10 + n)
        CallAuthorisationFactory(identity=estate.agent, tool=estate.write, expires_at=timezone.now())  # lapsed
    # live access by mode; the requests' ends and times; break-glass use; the per-call path
    assert count() == few == (4, 4)
    assert Identity.objects.count() >= 1


def used_call(estate, seconds: float, approved_after: float | None = None):
    """A per-call authorisation asked `seconds` ago, approved half-way (or after `approved_after`), used now."""
    now = timezone.now()
    approved = now - timedelta(seconds=seconds) + timedelta(seconds=approved_after or seconds / 2)
    return CallAuthorisationFactory(
        identity=estate.agent, tool=estate.write, state="consumed", requested_at=now - timedelta(seconds=seconds),
        decided_at=approved, decided_by=estate.cast.manager, valid_until=now + timedelta(minutes=5), consumed_at=now,
    )  # fmt: skip


def test_the_per_call_path_request_approval_allowed_call_and_lapsed(estate, client_factory):
    for seconds in (10, 20, 30, 40, 100):
        used_call(estate, seconds)
    now = timezone.now()
    CallAuthorisationFactory(identity=estate.agent, tool=estate.write, expires_at=now - timedelta(minutes=1))
    CallAuthorisationFactory(identity=estate.agent, tool=estate.write)  # still waiting: not lapsed
    CallAuthorisationFactory(
        identity=estate.agent, tool=estate.write, state="approved", decided_at=now - timedelta(minutes=9),
        decided_by=estate.cast.manager, requested_at=now - timedelta(minutes=10),
        valid_until=now - timedelta(minutes=4),
    )  # approved, never used: lapsed  # fmt: skip
    CallAuthorisationFactory(identity=estate.agent, tool=estate.write, state="denied", decided_at=now,
                             decided_by=estate.cast.manager)  # fmt: skip
    CallAuthorisationFactory(tool=estate.write, state="denied", decided_at=now, decided_by=estate.cast.manager)
    found = insight.figures(ElevationRequest.objects.all(), Entitlement.objects.none(),
                            Identity.objects.filter(pk=estate.agent.pk)).calls  # fmt: skip
    assert (found.allowed, found.denied, found.lapsed) == (5, 1, 2)  # another identity's deny is not counted
    assert found.median_seconds == pytest.approx(30, abs=1) and found.p95_seconds == pytest.approx(88, abs=1)
    assert found.approve_median_seconds == pytest.approx(17.5, abs=1)  # the used ones and the unused approval
    assert insight.figures(ElevationRequest.objects.none(), Entitlement.objects.none()).calls is None
    html = client_factory(estate.cast.manager).get("/").content.decode()
    assert "Per-call approvals" in html and "calls lapsed unanswered" in html and "30 s" in html


def test_the_dashboard_counts_a_subset_of_what_each_person_may_see(estate):
    """The panel reads requests by the identities a person may view; every one of them must also be a request
    the person may see (reviews.visibility), for every role of the cast and the manager's manager."""
    from reviews.selectors import requests_visible_to

    ask(estate)
    ElevationRequestFactory()  # on an identity nobody of the cast owns
    ElevationRequestFactory(identity=estate.agent, state="denied")
    people = [getattr(estate.cast, name) for name in vars(estate.cast) if hasattr(getattr(estate.cast, name), "pk")]
    counted_any = False
    for person in [*people, estate.boss]:
        counted = set(insight.dashboard_requests(person).values_list("pk", flat=True))
        visible = set(requests_visible_to(person).values_list("pk", flat=True))
        assert counted <= visible, person
        counted_any |= bool(counted) and counted != set(ElevationRequest.objects.values_list("pk", flat=True))
    assert counted_any  # someone restricted counted some requests, not none
