"""/api/v1/review-items/: the list (what each caller sees, the filters, 50 rows cost what 2 do), deciding one item
(certify, revoke, reduce, reassign), bulk, accepting all recommendations and signing off; bad input answers 400
naming the field and writes nothing; who may use each endpoint (anonymous 401, outsider 403, another person's
item 403 or 404, the reviewer 200)."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from agentiam.permissions import Role
from audit.models import AuditEntry
from identities import services as registry
from reviews.models import ReviewItem
from tests.cast import check_access, make_person
from tests.factories import IdentityFactory, OwnershipFactory
from tests.reviews.attest_support import make_item

pytestmark = pytest.mark.django_db
LIST = "/api/v1/review-items/"
ALL = list(Role)


def post(client, path, body):
    return client.post(path, json.dumps(body), content_type="application/json")


def decide_url(item) -> str:
    return f"{LIST}{item.uuid}/decide/"


def untouched(attest) -> bool:
    return (
        not ReviewItem.objects.exclude(state="pending").exists()
        and not AuditEntry.objects.filter(action__startswith="review").exists()
    )


@pytest.fixture
def other_owner(db):
    person = make_person("other-owner", Role.IDENTITY_OWNER)
    OwnershipFactory(identity=IdentityFactory(), person=person)
    return person


def test_the_list_shows_the_reviewer_their_items_and_the_fields_the_issue_names(attest, client_factory):
    answer = client_factory(attest.owner).get(LIST, {"reviewer": "me", "recommendation": "revoke"}).json()
    (row,) = answer["results"]
    assert row["id"] == str(attest.revoke.uuid) and row["campaign"] == str(attest.run.campaign.uuid)
    assert (
        row["identity"] == str(attest.estate.agent.uuid) and row["entitlement"]["tool"] == "github.create_pull_request"
    )
    assert row["recommendation"] == "revoke" and row["reason"] == "unused for 90 days" and row["state"] == "pending"
    by_state = client_factory(attest.owner).get(LIST, {"state": "decided"}).json()["results"]
    assert by_state == []
    by_identity = client_factory(attest.owner).get(LIST, {"identity": str(attest.estate.agent.uuid)}).json()
    assert len(by_identity["results"]) == 3
    by_campaign = client_factory(attest.owner).get(LIST, {"campaign": str(attest.run.campaign.uuid)}).json()
    assert len(by_campaign["results"]) == 3


def test_a_bad_reviewer_filter_names_the_field(attest, client_factory):
    answer = client_factory(attest.owner).get(LIST, {"reviewer": "someone"})
    assert answer.status_code == 400 and "reviewer" in answer.json()["fields"]


def test_who_sees_which_items(attest, client_factory, other_owner):
    check_access(client_factory, LIST, cast=attest.estate.cast, allowed=ALL, expect_allowed=(200,))
    assert client_factory(other_owner).get(LIST).json()["results"] == []
    assert len(client_factory(attest.estate.cast.auditor).get(LIST).json()["results"]) == 3
    assert len(client_factory(attest.estate.cast.manager).get(LIST).json()["results"]) == 3  # their report's agent
    assert client_factory(other_owner).get(f"{LIST}{attest.keep.uuid}/").status_code == 404


def test_deciding_one_item_is_the_reviewers_and_others_write_nothing(attest, client_factory, other_owner):
    data = {"decision": "certify", "comment": "still used", "time_spent_ms": 2500}
    seen = check_access(client_factory, decide_url(attest.keep), cast=attest.estate.cast, method="post", data=data,
                        allowed=[Role.IDENTITY_OWNER], expect_allowed=(200,), object_denied=[other_owner])  # fmt: skip
    assert seen["administrator"] == 403 and seen["other-owner"] == 404
    item = ReviewItem.objects.get(pk=attest.keep.pk)
    assert (item.decision, item.comment, item.time_spent_ms, item.bulk) == ("certify", "still used", 2500, False)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"decision": "keep"}, "decision"),
        ({}, "decision"),
        ({"decision": "certify", "comment": "x" * 2001}, "comment"),
        ({"decision": "certify", "time_spent_ms": -5}, "time_spent_ms"),
        ({"decision": "reduce", "scope": {"repo": "elsewhere/*"}}, "scope"),
        ({"decision": "reduce", "scope": ["acme"]}, "scope"),
        ({"decision": "reduce"}, "scope"),
        ({"decision": "reassign", "reassign_to": "not-a-uuid", "note": "x"}, "reassign_to"),
        ({"decision": "reassign", "note": "x"}, "reassign_to"),
    ],
)
def test_bad_input_answers_400_naming_the_field_and_writes_nothing(attest, client_factory, body, field):
    answer = post(client_factory(attest.owner), decide_url(attest.keep), body)
    assert answer.status_code == 400, answer.content
    assert field in answer.json()["fields"]
    assert untouched(attest)


def test_a_nul_in_the_comment_is_refused_before_any_view(attest, client_factory):
    answer = post(client_factory(attest.owner), decide_url(attest.keep), {"decision": "certify", "comment": "a\x00"})
    assert answer.status_code == 400 and untouched(attest)


def test_reduce_and_reassign_through_the_api(attest, client_factory):
    client = client_factory(attest.owner)
    reduced = post(client, decide_url(attest.keep), {"decision": "reduce", "scope": {"repo": "acme/web"}}).json()
    assert reduced["decision"] == "reduce" and reduced["reduce_scope"] == {"repo": "acme/web"}
    assert reduced["fulfilment_status"] == "pending"
    manager = attest.estate.cast.manager
    handed = post(client, decide_url(attest.none), {"decision": "reassign", "reassign_to": str(manager.profile.uuid),
                                                    "note": "you know this agent"}).json()  # fmt: skip
    assert handed["reviewer"] == manager.username and handed["state"] == "pending"
    final = post(client, decide_url(attest.keep), {"decision": "certify"})
    assert final.status_code == 409 and "final" in final.json()["detail"]


def test_bulk_decide_is_all_or_nothing_and_names_the_item(attest, client_factory):
    client = client_factory(attest.owner)
    refused = post(client, f"{LIST}bulk-decide/", {"items": [str(attest.keep.uuid), str(attest.revoke.uuid)],
                                                   "decision": "certify"})  # fmt: skip
    assert refused.status_code == 400 and "items.1" in refused.json()["fields"] and untouched(attest)
    other = post(client_factory(attest.estate.cast.auditor), f"{LIST}bulk-decide/",
                 {"items": [str(attest.keep.uuid)], "decision": "certify"})  # fmt: skip
    assert other.status_code == 400 and "items.0" in other.json()["fields"] and untouched(attest)
    done = post(client, f"{LIST}bulk-decide/", {"items": [str(attest.keep.uuid), str(attest.none.uuid)],
                                                "decision": "certify"})  # fmt: skip
    assert done.status_code == 200 and all(row["bulk"] for row in done.json())
    bad = post(client, f"{LIST}bulk-decide/", {"items": [], "decision": "certify"})
    assert bad.status_code == 400 and "items" in bad.json()["fields"]


def test_accept_all_and_sign_off(attest, client_factory):
    client = client_factory(attest.owner)
    accepted = post(client, f"{LIST}accept-recommendations/", {"run": str(attest.run.uuid)}).json()
    assert accepted == {"certified": 1, "revoked": 1, "left": 1}
    early = post(client, f"{LIST}sign-off/", {"run": str(attest.run.uuid)})
    assert early.status_code == 409 and "still wait" in early.json()["detail"]
    post(client, decide_url(attest.none), {"decision": "certify"})
    signed = post(client, f"{LIST}sign-off/", {"run": str(attest.run.uuid), "note": "all done"})
    assert signed.status_code == 200 and signed.json()["items"] == 3
    assert post(client, decide_url(attest.keep), {"decision": "revoke"}).status_code == 409
    unknown = post(client_factory(attest.estate.cast.outsider), f"{LIST}sign-off/", {"run": str(attest.run.uuid)})
    assert unknown.status_code == 403


def test_the_list_costs_the_same_queries_for_2_items_as_for_50(attest, client_factory):
    client = client_factory(attest.owner)
    client.get(LIST)
    with CaptureQueriesContext(connection) as few:
        assert len(client.get(LIST).json()["results"]) == 3
    cast = attest.estate.cast
    for n in range(47):
        agent = registry.identity_create(
            actor=cast.identity_owner, kind="agent", name=f"api-bot-{n}", environment="dev"
        )
        entitlement = registry.entitlement_grant(identity=agent, tool=attest.estate.read, action="read",
                                                 actor=cast.identity_owner)  # fmt: skip
        make_item(attest.run, entitlement, cast.identity_owner)
    with CaptureQueriesContext(connection) as many:
        assert len(client.get(LIST).json()["results"]) == 50
    assert len(many) == len(few)
