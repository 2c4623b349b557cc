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
from tests.factories import ElevationRequestFactory, EntitlementFactory
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
    count()  # warm: the person's roles are read once a request
    few = count()
    for n in range(20):
        services.request_approve(elevation_request=ask(estate, task=f"many-{n}"), actor=estate.cast.manager)
    assert count() == few == (3, 3)  # live access by mode; the requests' ends and times; break-glass use
    assert Identity.objects.count() >= 1
