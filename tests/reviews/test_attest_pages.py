""" "My reviews" in the browser (no JavaScript needed, htmx in place): who may open and post what — anonymous to
sign-in, an outsider 403, another person's item 403 or 404, the reviewer 200/302 — nothing refused is written;
the page shows the evidence and progress; deciding in place answers the row with the progress and the navigation
count out of band; the page costs the same number of queries for 2 identities as for 20."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from agentiam.permissions import Role
from audit.models import AuditEntry
from identities import services as registry
from reviews.models import ReviewItem
from tests.cast import check_access, make_person
from tests.factories import IdentityFactory, OwnershipFactory
from tests.reviews.attest_support import make_item

pytestmark = pytest.mark.django_db

REVIEWERS = [Role.IDENTITY_OWNER, Role.MANAGER]  # who attests in the browser (others: the API)
OTHERS = ["administrator", "compliance_officer", "security_analyst", "auditor", "outsider"]


def written() -> tuple[int, int]:
    decided = ReviewItem.objects.exclude(state="pending").count()
    return decided, AuditEntry.objects.filter(action__startswith="review").count()


@pytest.fixture
def other_owner(db):
    person = make_person("other-owner", Role.IDENTITY_OWNER)
    OwnershipFactory(identity=IdentityFactory(), person=person)
    return person


def statuses(client_factory, url, cast, *others, method="get") -> dict[str, int]:
    """Each cast member's (and anonymous's, and others') status for one URL: the roles' 404 for an item or run
    that is not theirs, the outsider's 403 by role, anonymous to sign-in."""
    seen = {"anonymous": getattr(client_factory(None), method)(url).status_code}
    for name, user in [*cast.members().items(), *((o.get_username(), o) for o in others)]:
        seen[name] = getattr(client_factory(user), method)(url).status_code
    return seen


def field(item, name):
    return f"i{item.uuid.hex}-{name}"


def test_my_reviews_opens_for_owners_and_managers_and_shows_the_reviewers_items_with_evidence(attest, client_factory):
    check_access(client_factory, reverse("reviews:my_reviews"), cast=attest.estate.cast, allowed=REVIEWERS,
                 expect_allowed=(200,))  # fmt: skip
    page = client_factory(attest.owner).get(reverse("reviews:my_reviews")).content.decode()
    assert "triage-bot" in page and "github.read_repo" in page and "github.create_pull_request" in page
    assert "Recommended: revoke" in page and "unused for 90 days" in page and "Flagged" in page
    assert "Triage issues" in page  # the acceptable use
    assert "Holds in total" in page and "0 of 3" in page
    assert 'id="nav-count-my-reviews"' in page
    other = client_factory(attest.estate.cast.manager).get(reverse("reviews:my_reviews")).content.decode()
    assert "github.read_repo" not in other and "Nothing waits for your review" in other


def test_deciding_is_for_the_items_reviewer_and_refusals_write_nothing(attest, client_factory, other_owner):
    url = reverse("reviews:item_decide", args=[attest.keep.uuid])
    data = {field(attest.keep, "decision"): "certify"}
    before = written()
    # Everyone who sees the item but is not its reviewer: 403; the outsider by role; another owner does not see it.
    cast = attest.estate.cast
    seen = check_access(client_factory, url, cast=cast, method="post", data=data,
                        allowed=[Role.IDENTITY_OWNER], expect_allowed=(302,), object_denied=[other_owner])  # fmt: skip
    assert seen["identity_owner"] == 302
    assert ReviewItem.objects.get(pk=attest.keep.pk).decision == "certify"
    assert written()[0] == before[0] + 1


def test_reassign_form_is_the_reviewers_only(attest, client_factory, other_owner):
    url = reverse("reviews:item_reassign", args=[attest.keep.uuid])
    assert statuses(client_factory, url, attest.estate.cast, other_owner) == {
        **dict.fromkeys(OTHERS, 403),  # by role
        "manager": 404,
        "identity_owner": 200,
        "anonymous": 302,
        "other-owner": 404,
    }
    page = client_factory(attest.owner).get(url).content.decode()
    assert "cast-manager" in page  # the accountable owner's manager


def test_bulk_accept_and_sign_off_are_for_reviewers_and_act_only_on_ones_own_items(attest, client_factory):
    cast = attest.estate.cast
    items = {"items": [str(attest.keep.uuid)], "decision": "certify"}
    check_access(client_factory, reverse("reviews:items_bulk"), cast=cast, method="post", data=items,
                 allowed=REVIEWERS, expect_allowed=(302,))  # fmt: skip
    assert ReviewItem.objects.get(pk=attest.keep.pk).bulk is True  # the reviewer's own POST decided it
    assert ReviewItem.objects.exclude(state="pending").count() == 1  # nobody else's did
    check_access(client_factory, reverse("reviews:items_accept"), cast=cast, method="post", data={},
                 allowed=REVIEWERS, expect_allowed=(302,))  # fmt: skip
    assert ReviewItem.objects.get(pk=attest.revoke.pk).decision == "revoke"
    url = reverse("reviews:review_sign_off", args=[attest.run.uuid])
    assert statuses(client_factory, url, cast, method="post") == {
        **dict.fromkeys(OTHERS, 403),  # by role
        "manager": 404,
        "identity_owner": 302,
        "anonymous": 302,
    }
    assert not ReviewItem.objects.filter(signed_off_at__isnull=False).exists()  # one item is still pending
    client_factory(attest.owner).post(reverse("reviews:item_decide", args=[attest.none.uuid]),
                                      {field(attest.none, "decision"): "certify"})  # fmt: skip
    assert client_factory(attest.owner).post(url, {}).status_code == 302
    assert ReviewItem.objects.filter(signed_off_at__isnull=False).count() == 3


def test_deciding_in_place_answers_the_row_the_progress_and_the_count(attest, client_factory):
    client = client_factory(attest.owner)
    url = reverse("reviews:item_decide", args=[attest.revoke.uuid])
    refused = client.post(url, {field(attest.revoke, "decision"): "certify"}, HTTP_HX_REQUEST="true")
    assert refused.status_code == 400 and "comment" in refused.content.decode().lower()
    assert ReviewItem.objects.get(pk=attest.revoke.pk).state == "pending"
    answer = client.post(url, {field(attest.revoke, "decision"): "revoke", field(attest.revoke, "shown_at"): "1"},
                         HTTP_HX_REQUEST="true")  # fmt: skip
    body = answer.content.decode()
    assert answer.status_code == 200 and f'id="item-{attest.revoke.uuid.hex}"' in body
    assert 'id="review-progress" aria-label="Progress" hx-swap-oob="true"' in body and "1 of 3" in body
    assert 'id="nav-count-my-reviews" hx-swap-oob="true"' in body
    item = ReviewItem.objects.get(pk=attest.revoke.pk)
    assert item.decision == "revoke" and item.time_spent_ms is not None


def test_a_narrower_scope_in_bad_json_is_refused_beside_its_field(attest, client_factory):
    client = client_factory(attest.owner)
    url = reverse("reviews:item_decide", args=[attest.keep.uuid])
    answer = client.post(url, {field(attest.keep, "decision"): "reduce", field(attest.keep, "scope_json"): "{repo"},
                         HTTP_HX_REQUEST="true")  # fmt: skip
    assert answer.status_code == 400 and 'aria-invalid="true"' in answer.content.decode()
    assert ReviewItem.objects.get(pk=attest.keep.pk).state == "pending"


def _more_identities(attest, count: int):
    cast, estate = attest.estate.cast, attest.estate
    for n in range(count):
        agent = registry.identity_create(actor=cast.identity_owner, kind="agent", name=f"bot-{n:02d}",
                                         environment="dev", exposure="internal")  # fmt: skip
        for tool in (estate.read, estate.write):
            entitlement = registry.entitlement_grant(
                identity=agent, tool=tool, action="read", actor=cast.identity_owner
            )
            make_item(attest.run, entitlement, cast.identity_owner)


def test_my_reviews_costs_the_same_number_of_queries_for_2_identities_as_for_10(attest, client_factory):
    client = client_factory(attest.owner)
    url = reverse("reviews:my_reviews")
    client.get(url)
    _more_identities(attest, 1)
    with CaptureQueriesContext(connection) as few:
        assert client.get(url).status_code == 200
    _more_identities(attest, 12)
    with CaptureQueriesContext(connection) as many:
        page = client.get(url)
    assert (
        page.status_code == 200 and page.content.decode().count("data-review-item") == 20
    )  # 10 identities, 2 items each
    assert len(many) == len(few), [q["sql"][:120] for q in many.captured_queries]
