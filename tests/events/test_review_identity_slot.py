"""The events app's `review_identity` slot on "My reviews": a reviewer reads the identity's recent chain steps
with the gateway decision of each, linked to the chain page, without reviews importing the events app (the
page names its identities, the slot reads for the whole page at once); permission-checked — nobody sees steps of
an identity they may not view, and quarantined steps never show."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from agentiam import slots
from audit.events.slots import review_identity_context
from tests.events.test_chain_page import chain as chain  # the fixture: a trace of the triage agent
from tests.factories import IdentityFactory, PersonFactory
from tests.reviews.attest_support import make_item, make_run

pytestmark = pytest.mark.django_db


def _request(user, identities=()):
    request = SimpleNamespace(user=user)
    slots.prime(request, "review_identity", identities)
    return request


def test_my_reviews_shows_the_identitys_recent_chain_steps_and_their_decisions(cast, client_factory, chain, estate):
    run = make_run(cast.compliance_officer)
    entitlement = estate.agent.entitlements.filter(revoked_at__isnull=True).first()
    make_item(run, entitlement, cast.identity_owner)
    page = client_factory(cast.identity_owner).get(reverse("reviews:my_reviews")).content.decode()
    assert "Recent chain steps" in page and "4 in 1 chain" in page  # the quarantined step is not shown
    assert f"/events/chains/{chain}/" in page and "vault.read_secret" in page
    assert "badge-danger" in page  # the denied step's gateway decision


def test_the_slot_reads_for_the_whole_page_once_and_only_what_the_reader_may_view(cast, chain, estate):
    others = [IdentityFactory() for _ in range(5)]
    request = _request(cast.identity_owner, [estate.agent, *others])
    with CaptureQueriesContext(connection) as queries:
        shown = review_identity_context(request, estate.agent)
        for identity in others:
            assert review_identity_context(request, identity) is None  # no steps: nothing rendered
    assert len(queries) <= 3  # steps (with the viewer's scope), their decisions: whatever the identities
    assert shown["chains"] == 1 and len(shown["steps"]) == 4
    assert {step["decision"] for step in shown["steps"] if step["decision_id"]} == {"allow", "deny"}
    stranger = PersonFactory(username="other-owner", roles=["identity_owner"])
    assert review_identity_context(_request(stranger, [estate.agent]), estate.agent) is None
    assert review_identity_context(_request(cast.auditor), estate.agent)["chains"] == 1  # sees everything
