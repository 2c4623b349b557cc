""" "My reviews" for every reviewer, not only owners and managers: anyone an open campaign names as the reviewer
of an item (a fallback group's member with no role, a later stage's reviewer, a reassignee, an administrator
reviewing AgentIAM's own role holders) sees the navigation entry with its count and opens the inbox and decides
there; without an item in an open campaign they are refused as before. The roles that see everything keep one
campaign entry ("Campaigns"): its page links to My reviews with their count, and so does the home page's work
list."""

from __future__ import annotations

import pytest
from django.urls import reverse

from agentiam.permissions import Role
from reviews.models import ReviewItem
from tests.cast import make_person

pytestmark = pytest.mark.django_db


def _route_to(item, person) -> None:
    ReviewItem.objects.filter(pk=item.pk).update(reviewer=person, routed_via="fallback")


def test_a_reviewer_with_no_role_sees_the_entry_opens_the_inbox_and_decides(attest, client_factory):
    member = make_person("fallback-member")  # a fallback group's member: no AgentIAM role at all
    nobody = make_person("no-items")
    before = client_factory(member).get(reverse("dashboard")).content.decode()
    assert 'href="/reviews/my-reviews/"' not in before
    assert client_factory(member).get(reverse("reviews:my_reviews")).status_code == 403
    _route_to(attest.keep, member)

    home = client_factory(member).get(reverse("dashboard")).content.decode()
    assert 'href="/reviews/my-reviews/"' in home and 'id="nav-count-my-reviews"' in home
    page = client_factory(member).get(reverse("reviews:my_reviews"))
    assert page.status_code == 200 and "github.read_repo" in page.content.decode()
    assert f'id="item-{attest.revoke.uuid.hex}"' not in page.content.decode()  # the owner's items stay theirs
    url = reverse("reviews:item_decide", args=[attest.keep.uuid])
    answer = client_factory(member).post(url, {f"i{attest.keep.uuid.hex}-decision": "certify"})
    assert answer.status_code == 302 and ReviewItem.objects.get(pk=attest.keep.pk).decided_by_id == member.pk
    # Someone with no role and no item: neither the entry nor the page.
    assert 'href="/reviews/my-reviews/"' not in client_factory(nobody).get(reverse("dashboard")).content.decode()
    assert client_factory(nobody).get(reverse("reviews:my_reviews")).status_code == 403
    other = reverse("reviews:item_decide", args=[attest.revoke.uuid])  # the owner's item: not theirs
    assert client_factory(member).post(other, {f"i{attest.revoke.uuid.hex}-decision": "certify"}).status_code in (
        403, 404)  # fmt: skip
    assert ReviewItem.objects.get(pk=attest.revoke.pk).state == "pending"


def test_an_administrator_reviewer_keeps_one_campaign_entry_whose_page_links_with_the_count(attest, client_factory):
    admin = attest.estate.cast.administrator
    assert client_factory(admin).get(reverse("reviews:my_reviews")).status_code == 403
    _route_to(attest.none, admin)

    home = client_factory(admin).get(reverse("dashboard")).content.decode()
    assert 'href="/reviews/my-reviews/"' not in home.split("<main")[0]  # no second new entry in the navigation
    work = client_factory(admin).get(reverse("worklist")).content.decode()
    assert "Access to review" in work and 'href="/reviews/my-reviews/"' in work  # the home page's work list
    listing = client_factory(admin).get(reverse("reviews:campaigns")).content.decode()
    assert 'id="my-reviews-link"' in listing and 'href="/reviews/my-reviews/"' in listing
    assert "<strong>1</strong> item waits" in listing
    page = client_factory(admin).get(reverse("reviews:my_reviews"))
    assert page.status_code == 200 and "Recent decisions" in page.content.decode()


def test_owners_and_managers_keep_their_entry_without_items(cast, client_factory):
    for person in (cast.identity_owner, cast.manager):
        assert 'href="/reviews/my-reviews/"' in client_factory(person).get(reverse("dashboard")).content.decode()
    auditor = client_factory(cast.auditor).get(reverse("reviews:campaigns")).content.decode()
    assert 'id="my-reviews-link"' not in auditor and Role.AUDITOR in cast.auditor.groups.values_list("name", flat=True)
