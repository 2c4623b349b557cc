"""Break-glass pages: who may open them (anonymous, wrong role, another owner, allowed), step-up before the
glass is broken, bad input naming the field, and the review closed from its page."""

from __future__ import annotations

import time

import pytest

from agentiam.stepup import SESSION_AT, SESSION_USER
from reviews.models import BreakGlass
from reviews.services.breakglass import break_glass_start
from tests.cast import check_access, make_person
from tests.factories import IdentityFactory, OwnershipFactory

pytestmark = pytest.mark.django_db


def stepped_up(client, user):
    session = client.session
    session[SESSION_AT], session[SESSION_USER] = int(time.time()), user.pk
    session.save()
    return client


@pytest.fixture
def other_owner(db):
    person = make_person("other-owner", "identity_owner")
    OwnershipFactory(identity=IdentityFactory(), person=person)
    return person


def test_the_start_page_is_for_owners_and_asks_for_step_up(estate, client_factory, other_owner):
    url = f"/reviews/identities/{estate.agent.uuid}/break-glass/"
    check_access(client_factory, url, cast=estate.cast, allowed=["identity_owner"], object_denied=[other_owner])
    response = client_factory(estate.cast.identity_owner).get(url)
    assert response.status_code == 302 and "step-up" in response.headers["Location"]


def test_an_owner_stepped_up_breaks_the_glass_and_bad_input_names_the_field(estate, client_factory):
    owner = estate.cast.identity_owner
    client = stepped_up(client_factory(owner), owner)
    url = f"/reviews/identities/{estate.agent.uuid}/break-glass/"
    assert client.get(url).status_code == 200
    data = {"scopes": "github.create_pull_request:write", "task": "outage", "reason": "prod down",
            "duration_minutes": 30}  # fmt: skip
    bad = client.post(url, {**data, "scopes": "nope:write"})
    assert bad.status_code == 400 and "scopes" in bad.context["form"].errors
    bad = client.post(url, {**data, "duration_minutes": 90})
    assert bad.status_code == 400 and "duration_minutes" in bad.context["form"].errors
    assert not BreakGlass.objects.exists()
    done = client.post(url, data)
    row = BreakGlass.objects.get()
    assert done.status_code == 302 and done.headers["Location"] == f"/reviews/break-glass/{row.uuid}/"
    again = client.post(url, {**data, "task": "second"})
    assert again.status_code == 409


def test_the_review_page_matrix_and_closing_from_it(estate, client_factory, other_owner):
    row = break_glass_start(identity=estate.agent, actor=estate.cast.identity_owner, task="t",
                            scopes=["github.create_pull_request:write"], reason="prod down")  # fmt: skip
    url = f"/reviews/break-glass/{row.uuid}/"
    check_access(client_factory, url, cast=estate.cast,
                 allowed=["identity_owner", "manager", "administrator", "security_analyst", "compliance_officer",
                          "auditor"], object_denied=[other_owner])  # fmt: skip
    page = client_factory(estate.cast.identity_owner).get(url)
    assert "Nobody closes the review of their own break-glass." in page.content.decode()
    refused = client_factory(estate.cast.auditor).post(url, {"note": "looked"})
    assert refused.status_code == 403
    blank = client_factory(estate.cast.security_analyst).post(url, {"note": ""})
    assert blank.status_code == 400
    closed = client_factory(estate.cast.security_analyst).post(url, {"note": "justified"})
    assert closed.status_code == 302
    row.refresh_from_db()
    assert row.closed_by == estate.cast.security_analyst


def test_the_identity_page_offers_break_glass_to_its_owner_only(estate, client_factory):
    url = f"/identities/{estate.agent.uuid}/"
    assert "Break the glass" in client_factory(estate.cast.identity_owner).get(url).content.decode()
    assert "Break the glass" not in client_factory(estate.cast.administrator).get(url).content.decode()
