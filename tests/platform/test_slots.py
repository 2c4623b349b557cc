"""Page slots (agentiam.slots): an app adds a panel to another app's page — here the identity page — without
that page importing it; the panel sees the page's object and only the people it is for see it."""

import pytest

from agentiam import slots
from agentiam.permissions import Role
from agentiam.slots import Slot
from identities import services

pytestmark = pytest.mark.django_db


@pytest.fixture
def agent(cast):
    return services.identity_create(
        actor=cast.identity_owner, name="slot-bot", kind="agent", environment="dev", exposure="internal"
    )


@pytest.fixture
def registered():
    calls = []

    def chains(request, identity):
        calls.append(request.user.username)
        return {"title": f"Chains of {identity.name}", "text": f"for {request.user.username}"}

    def posture(request, identity):
        return None if identity.name == "quiet-bot" else {"title": "Posture", "text": f"of {identity.uuid}"}

    # components/empty.html is a small template that takes `title` and `text`.
    slots.register(Slot("identity_detail", "chains", "components/empty.html", chains, roles=frozenset({Role.AUDITOR})))
    slots.register(Slot("identity_detail", "posture", "components/empty.html", posture, order=10))
    yield calls
    slots.unregister("identity_detail", "chains")
    slots.unregister("identity_detail", "posture")


def page(client, identity) -> str:
    response = client.get(f"/identities/{identity.uuid}/")
    assert response.status_code == 200
    return response.content.decode()


def test_a_registered_slot_shows_on_the_identity_page_with_the_pages_object(cast, agent, registered, client_factory):
    html = page(client_factory(cast.auditor), agent)
    assert "Chains of slot-bot" in html and "for cast-auditor" in html
    assert f"of {agent.uuid}" in html
    assert html.index(f"of {agent.uuid}") < html.index("Chains of slot-bot")  # order 10 before 100


def test_a_slot_is_only_for_the_roles_it_names_and_its_context_runs_only_for_them(
    cast, agent, registered, client_factory
):
    html = page(client_factory(cast.identity_owner), agent)
    assert "Chains of slot-bot" not in html and f"of {agent.uuid}" in html
    assert registered == []  # the owner's page never ran the auditors' slot
    page(client_factory(cast.auditor), agent)
    assert registered == ["cast-auditor"]


def test_a_slot_with_nothing_to_say_renders_nothing(cast, registered, client_factory):
    quiet = services.identity_create(
        actor=cast.identity_owner, name="quiet-bot", kind="agent", environment="dev", exposure="internal"
    )
    html = page(client_factory(cast.identity_owner), quiet)
    assert "Posture" not in html


def test_without_registered_slots_the_page_is_unchanged(cast, agent, client_factory):
    found = slots.slots_for("identity_detail", client_factory(cast.auditor).get("/").wsgi_request)
    assert {slot.key for slot in found} & {"chains", "posture"} == set()  # apps' own slots (reviews') stay
    assert "Chains of" not in page(client_factory(cast.auditor), agent)
