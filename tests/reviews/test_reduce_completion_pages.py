"""Completing a privileged reduce in the browser (reviews:item_complete_reduce): who may open and post it —
anonymous to sign-in, every role but the administrator 403, an administrator who owns the identity 403 with
nothing written, an item that is no privileged reduce 404 — and what completing does (the entitlement replaced by
the narrower one, the item fulfilled by the administrator, the trail), the work list's line for administrators,
and a second completion refused (409)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from agentiam import worklist
from agentiam.permissions import Role
from audit.models import AuditEntry
from identities.models import Entitlement
from reviews.models import ReviewItem
from reviews.services.attest import ERR_ADMIN_ONLY, review_item_decide
from tests.cast import check_access, make_person
from tests.factories import OwnershipFactory

pytestmark = pytest.mark.django_db

NARROWER = {"repo": "acme/web"}


@pytest.fixture
def waiting(attest):
    """The owner reduced the standing write (granted by the administrator) to one repository: it waits."""
    item = review_item_decide(item=attest.revoke, actor=attest.owner, decision="reduce", scope=NARROWER,
                              comment="only the web repository now")  # fmt: skip
    assert item.fulfilment_status == "awaiting_admin"
    return item


def url_of(item) -> str:
    return reverse("reviews:item_complete_reduce", args=[item.uuid])


def written(item) -> tuple:
    found = ReviewItem.objects.get(pk=item.pk)
    return (
        found.fulfilment_status,
        found.replacement_id,
        AuditEntry.objects.filter(action="review_item.complete_reduce").count(),
        Entitlement.objects.filter(revoked_at__isnull=True).count(),
    )


def test_only_an_administrator_opens_it(attest, waiting, client_factory):
    check_access(client_factory, url_of(waiting), cast=attest.estate.cast, allowed=[Role.ADMINISTRATOR],
                 expect_allowed=(200,))  # fmt: skip


def test_posting_without_the_right_writes_nothing_and_the_administrator_completes_it_once(
    attest, waiting, client_factory
):
    check_access(client_factory, url_of(waiting), cast=attest.estate.cast, allowed=[Role.ADMINISTRATOR],
                 method="post", data=lambda name: {"exception_reason": ""}, expect_allowed=(302,))  # fmt: skip
    item = ReviewItem.objects.get(pk=waiting.pk)
    assert (item.fulfilment_status, item.fulfilled_by) == ("done", attest.estate.cast.administrator)
    assert AuditEntry.objects.filter(action="review_item.complete_reduce").count() == 1


def test_an_administrator_who_owns_the_identity_is_refused_and_nothing_is_written(attest, waiting, client_factory):
    owning = make_person("owning-admin", Role.ADMINISTRATOR, employee_id="C-owning-admin")
    OwnershipFactory(identity=attest.estate.agent, person=owning, role="technical")
    before = written(waiting)
    client = client_factory(owning)
    page = client.get(url_of(waiting))
    assert page.status_code == 403
    assert client.post(url_of(waiting), {"exception_reason": ""}).status_code == 403
    assert written(waiting) == before
    assert [item.key for item in worklist.items_for(owning)].count("reduces_to_complete") == 0
    assert ERR_ADMIN_ONLY  # the refusal the service gives too (tests/reviews/test_attest.py)


def test_an_item_that_is_no_privileged_reduce_is_not_found(attest, client_factory):
    admin = client_factory(attest.estate.cast.administrator)
    assert admin.get(url_of(attest.keep)).status_code == 404  # pending, no reduce
    assert admin.get(reverse("reviews:item_complete_reduce", args=[attest.run.uuid])).status_code == 404


def test_the_administrator_completes_it_from_the_work_list_and_a_second_time_is_refused(attest, waiting,
                                                                                        client_factory):  # fmt: skip
    admin_person = attest.estate.cast.administrator
    [line] = [item for item in worklist.items_for(admin_person) if item.key == "reduces_to_complete"]
    assert (line.count, line.url) == (1, url_of(waiting))
    admin = client_factory(admin_person)
    page = admin.get(line.url).content.decode()
    assert "Complete this reduce?" in page and "acme/web" in page and "only the web repository now" in page

    done = admin.post(url_of(waiting), {"exception_reason": "", "exception_until": ""})
    assert done.status_code == 302 and done["Location"] == reverse("dashboard")
    item = ReviewItem.objects.select_related("replacement", "entitlement").get(pk=waiting.pk)
    assert (item.state, item.fulfilment_status, item.fulfilled_by) == ("fulfilled", "done", admin_person)
    assert item.replacement.scope == NARROWER and item.replacement.action == "write"
    assert item.entitlement.revoked_at is not None
    assert AuditEntry.objects.filter(action="review_item.complete_reduce", actor_id=admin_person.pk).count() == 1
    assert not [item for item in worklist.items_for(admin_person) if item.key == "reduces_to_complete"]

    shown = admin.get(url_of(waiting)).content.decode()
    assert "Reduce completed" in shown and 'id="completed-by"' in shown and "Complete the reduce" not in shown
    again = admin.post(url_of(waiting), {"exception_reason": ""})
    assert again.status_code == 409 and ReviewItem.objects.filter(replacement__isnull=False).count() == 1


def test_bad_input_names_the_field_and_writes_nothing(attest, waiting, client_factory):
    before = written(waiting)
    admin = client_factory(attest.estate.cast.administrator)
    nul = admin.post(url_of(waiting), {"exception_reason": "x\x00y"})
    assert nul.status_code == 400 and "NUL characters" in nul.content.decode()
    assert "(exception_reason)" in nul.content.decode()
    bad = admin.post(url_of(waiting), {"exception_reason": "", "exception_until": "not a time"})
    assert bad.status_code == 400 and "Enter a valid date/time." in bad.content.decode()
    assert written(waiting) == before
