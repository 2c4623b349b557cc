"""The work-queue registry (agentiam.worklist): apps register what a person must do; a person sees only
their own items, on /worklist/ and in the dashboard's panel loaded after the page."""

import pytest

from agentiam import worklist
from agentiam.permissions import Role
from agentiam.worklist import WorkItem, WorkSource, items_for
from identities import services
from identities.models import Identity
from tests.cast import EVERYONE, check_access, make_person
from tests.factories import IdentityFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def probe():
    """A source of the test's own: one item naming the person it ran for, none for the outsider-ish."""
    seen = []

    def items(person):
        seen.append(person.username)
        return [
            WorkItem("probe", f"Probe for {person.username}", "/probe/", 2),
            WorkItem("probe-empty", "Nothing here", "/probe/empty/", 0),
        ]

    worklist.register(WorkSource("probe", items, roles=frozenset({Role.AUDITOR, Role.MANAGER}), order=1))
    yield seen
    worklist.unregister("probe")


def test_a_source_runs_only_for_its_roles_and_empty_items_are_left_out(cast, probe):
    assert [(i.key, i.title, i.count) for i in items_for(cast.auditor)] == [("probe", "Probe for cast-auditor", 2)]
    assert [i.key for i in items_for(cast.manager)] == ["probe"]
    assert items_for(cast.compliance_officer) == [] and items_for(cast.outsider) == []
    assert probe == ["cast-auditor", "cast-manager"]  # never asked about people it does not serve


def register_identity(owner, name: str) -> Identity:
    return services.identity_create(actor=owner, name=name, kind="agent", environment="dev", exposure="internal")


@pytest.fixture
def registry(cast):
    other = make_person("other-owner", Role.IDENTITY_OWNER)
    mine = [register_identity(cast.identity_owner, f"mine-{n}") for n in range(3)]
    theirs = register_identity(other, "theirs")
    Identity.objects.filter(pk__in=[mine[0].pk, mine[1].pk, theirs.pk]).update(flags=["aup_missing"])
    Identity.objects.filter(pk=mine[2].pk).update(flags=[])
    orphans = IdentityFactory.create_batch(2)  # no owner at all
    return {"other": other, "orphans": orphans}


def work(person) -> dict[str, tuple[int, str]]:
    return {item.key: (item.count, item.url) for item in items_for(person)}


def test_each_person_sees_only_their_own_registry_work(cast, registry):
    assert work(cast.administrator) == {"orphans": (2, "/identities/?orphaned=true")}
    assert work(cast.identity_owner) == {"my_flagged": (2, "/identities/mine/?flagged=any")}
    assert work(registry["other"]) == {"my_flagged": (1, "/identities/mine/?flagged=any")}
    for person in (cast.manager, cast.auditor, cast.security_analyst, cast.compliance_officer, cast.outsider):
        assert work(person) == {}, person.username


def test_the_worklist_page_lists_the_persons_items_with_links(cast, registry, client_factory):
    page = client_factory(cast.identity_owner).get("/worklist/")
    html = page.content.decode()
    assert page.status_code == 200 and "<html" in html
    assert 'href="/identities/mine/?flagged=any"' in html and "Your identities with flags to resolve" in html
    assert "without an accountable owner" not in html
    empty = client_factory(cast.auditor).get("/worklist/").content.decode()
    assert "Nothing is waiting for you" in empty and 'id="worklist"' not in empty
    check_access(client_factory, "/worklist/", cast=cast, allowed=EVERYONE)


def test_the_dashboard_loads_the_panel_after_the_page_and_an_empty_one_removes_itself(
    cast, registry, client_factory, htmx_client
):
    dashboard = client_factory(cast.administrator).get("/").content.decode()
    assert 'hx-get="/worklist/" hx-trigger="load" hx-swap="outerHTML"' in dashboard
    assert 'hx-get="/worklist/"' not in client_factory(cast.outsider).get("/").content.decode()
    admin = client_factory(cast.administrator)
    partial = admin.get("/worklist/", HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in partial and 'id="worklist"' in partial and 'href="/identities/?orphaned=true"' in partial
    assert client_factory(cast.auditor).get("/worklist/", HTTP_HX_REQUEST="true").content.decode().strip() == ""


def test_the_worklist_costs_one_query_per_source_that_serves_the_person(
    cast, registry, client_factory, django_assert_max_num_queries
):
    client = client_factory(cast.identity_owner)
    client.get("/worklist/", HTTP_HX_REQUEST="true")
    # session, person, second-factor device, roles; flagged identities; elevation requests to decide (the
    # person's groups, which may make them an approver whatever their role: two queries)
    with django_assert_max_num_queries(7):
        client.get("/worklist/", HTTP_HX_REQUEST="true")
