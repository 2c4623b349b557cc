"""Attesting review items through the services: certify (changeable until sign-off), revoke and reduce (final,
handed to fulfilment), reassign (to someone the reviewer rule names, never a barred person), the comment rule,
sign-off, and bad input refused naming the field with nothing written."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from agentiam import outbox
from agentiam.errors import Conflict, PermissionDenied
from agentiam.models import OutboxMessage
from audit.models import AuditEntry
from identities.runtime.services.ending import entitlement_revoke
from reviews.models import Eligibility, ReviewerSignOff, ReviewItem
from reviews.services import attest as services
from tests.cast import make_person
from tests.factories import EntitlementFactory, IdentityFactory, OwnershipFactory
from tests.reviews.attest_support import build_attest, make_item

pytestmark = pytest.mark.django_db


def decide(item, actor, decision, **extra):
    return services.review_item_decide(item=item, actor=actor, decision=decision, **extra)


def fields(error: ValidationError) -> set[str]:
    return set(error.message_dict)


def test_the_owner_certifies_an_item_and_the_decision_records_who_when_and_time_spent(attest):
    done = decide(attest.keep, attest.owner, "certify", time_spent_ms=4200)
    assert done.state == "decided" and done.decision == "certify" and done.decided_via == "reviewer"
    assert done.decided_by == attest.owner and done.decided_at is not None
    assert done.time_spent_ms == 4200 and done.bulk is False and done.fulfilment_status == ""
    entry = AuditEntry.objects.get(action="review_item.certify")
    assert entry.changes["bulk"] is False and entry.changes["time_spent_ms"] == 4200


def test_a_certify_may_change_to_a_revoke_until_sign_off_but_a_revoke_is_final(attest):
    decide(attest.keep, attest.owner, "certify")
    changed = decide(attest.keep, attest.owner, "revoke", comment="not needed after all")
    assert changed.decision == "revoke" and changed.fulfilment_status == "pending"
    with pytest.raises(Conflict, match="final"):
        decide(attest.keep, attest.owner, "certify")


def test_a_revoke_is_handed_to_fulfilment_in_the_same_transaction_and_fulfilled_by_it(attest):
    done = decide(attest.revoke, attest.owner, "revoke")
    assert done.fulfilment_status == "pending" and done.fulfilment_next_at is not None
    assert done.entitlement.revoked_at is None  # revoking is the fulfilment's job, not the reviewer's request
    (message,) = OutboxMessage.objects.filter(kind="reviews.fulfilment")
    assert message.payload["items"] == [str(done.uuid)]
    outbox.deliver_due()
    fulfilled = ReviewItem.objects.select_related("entitlement").get(pk=done.pk)
    assert fulfilled.state == "fulfilled" and fulfilled.entitlement.revoked_at is not None


def test_keeping_a_flagged_item_needs_a_comment_and_nothing_is_written_without_it(attest):
    with pytest.raises(ValidationError) as refused:
        decide(attest.revoke, attest.owner, "certify")
    assert fields(refused.value) == {"comment"}
    assert ReviewItem.objects.get(pk=attest.revoke.pk).state == "pending"
    assert decide(attest.revoke, attest.owner, "certify", comment="used by the release job").decision == "certify"


def test_the_definition_may_ask_a_comment_on_every_revoke(estate):
    attest = build_attest(estate, {"comment_required": "revoke"})
    with pytest.raises(ValidationError) as refused:
        decide(attest.keep, attest.owner, "revoke")
    assert fields(refused.value) == {"comment"}
    assert decide(attest.keep, attest.owner, "certify").decision == "certify"


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"decision": "approve"}, "decision"),
        ({"decision": "certify", "comment": "a\x00b"}, "comment"),
        ({"decision": "certify", "comment": "x" * (services.MAX_COMMENT + 1)}, "comment"),
        ({"decision": "certify", "comment": 7}, "comment"),
        ({"decision": "certify", "time_spent_ms": -1}, "time_spent_ms"),
        ({"decision": "certify", "time_spent_ms": True}, "time_spent_ms"),
        ({"decision": "reduce"}, "scope"),
        ({"decision": "reduce", "scope": {"repo": "acme/*"}, "jit_only": True}, "scope"),
        ({"decision": "reduce", "scope": {"repo": "other/*"}}, "scope"),
        ({"decision": "reduce", "scope": {"repo": "acme/*"}}, "scope"),
        ({"decision": "reduce", "scope": "acme"}, "scope"),
        ({"decision": "reassign", "note": "on leave"}, "reassign_to"),
    ],
)
def test_bad_input_is_refused_naming_the_field_and_writes_nothing(attest, extra, field):
    before = AuditEntry.objects.count()
    with pytest.raises(ValidationError) as refused:
        services.review_item_decide(item=attest.keep, actor=attest.owner, **extra)
    assert field in fields(refused.value)
    item = ReviewItem.objects.get(pk=attest.keep.pk)
    assert item.state == "pending" and item.decision == "" and item.reviewer == attest.owner
    assert AuditEntry.objects.count() == before and not Eligibility.objects.exists()


def test_reduce_of_read_to_a_narrower_scope_goes_to_fulfilment(attest):
    done = decide(attest.keep, attest.owner, "reduce", scope={"repo": "acme/web"})
    assert done.decision == "reduce" and done.reduce_scope == {"repo": "acme/web"}
    assert done.fulfilment_status == "pending"


def test_reduce_of_write_waits_for_an_administrator_who_does_not_own_the_identity(attest):
    registry_owner = attest.estate.cast.administrator
    done = decide(attest.revoke, attest.owner, "reduce", scope={"repo": "acme/web"}, comment="only the web repo")
    assert done.fulfilment_status == "awaiting_admin"
    with pytest.raises(PermissionDenied):
        services.review_item_complete_reduce(item=done, actor=attest.owner)
    completed = services.review_item_complete_reduce(item=done, actor=registry_owner)
    assert completed.state == "fulfilled" and completed.fulfilled_by == registry_owner
    assert completed.replacement.scope == {"repo": "acme/web"} and completed.replacement.action == "write"
    completed.entitlement.refresh_from_db()
    assert completed.entitlement.revoked_at is not None


def test_jit_only_ends_the_standing_entitlement_and_makes_the_identity_eligible(attest):
    done = decide(attest.revoke, attest.owner, "reduce", jit_only=True, comment="ask when needed")
    assert done.reduce_jit_only and done.fulfilment_status == "pending"
    outbox.deliver_due()
    done.refresh_from_db()
    eligibility = Eligibility.objects.get()
    assert done.eligibility == eligibility and done.state == "fulfilled"
    entitlement = attest.revoke.entitlement
    assert (eligibility.identity_id, eligibility.tool_id, eligibility.action) == (
        entitlement.identity_id, entitlement.tool_id, "write")  # fmt: skip
    assert eligibility.made_eligible_by == attest.owner


def test_only_the_items_reviewer_decides_it(attest):
    with pytest.raises(PermissionDenied):
        decide(attest.keep, attest.estate.cast.manager, "certify")


def test_reassign_hands_the_item_to_the_owners_manager_with_a_note(attest):
    manager = attest.estate.cast.manager
    done = decide(attest.keep, attest.owner, "reassign", reassign_to=manager, note="you set this agent up")
    assert done.reviewer == manager and done.routed_via == "reassigned" and done.state == "pending"
    assert done.reassigned_from == attest.owner and done.reassign_note == "you set this agent up"
    assert decide(done, manager, "certify").decided_by == manager


def test_reassign_to_someone_the_reviewer_rule_does_not_name_is_refused(attest):
    with pytest.raises(ValidationError) as refused:
        decide(attest.keep, attest.owner, "reassign", reassign_to=attest.estate.cast.auditor, note="please")
    assert fields(refused.value) == {"reassign_to"}


def test_reassign_to_the_granter_of_an_independent_item_is_refused_by_the_service_and_the_database(estate):
    administrator = estate.cast.administrator
    group = Group.objects.create(name="reviewers")
    administrator.groups.add(group)
    attest = build_attest(estate, {"fallback_group": group.pk})
    with pytest.raises(ValidationError, match="granted"):
        decide(attest.revoke, attest.owner, "reassign", reassign_to=administrator, note="you granted it")
    with pytest.raises(IntegrityError), transaction.atomic():
        ReviewItem.objects.filter(pk=attest.revoke.pk).update(reviewer=administrator, routed_via="reassigned")


def test_an_identity_never_reviews_itself_the_database_refuses_it(attest):
    person = make_person("human-reviewer")
    human = IdentityFactory(kind="human", person=person, owner=attest.owner)
    held = EntitlementFactory(identity=human, granted_by=attest.owner, action="read")
    item = make_item(attest.run, held, attest.owner)
    assert item.holder_person == person
    OwnershipFactory(identity=human, person=person, role="technical")  # so the reviewer rule names them
    with pytest.raises(IntegrityError, match="not_holder"), transaction.atomic():
        ReviewItem.objects.filter(pk=item.pk).update(reviewer=person, routed_via="reassigned",
                                                     reassigned_from=attest.owner)  # fmt: skip


def test_access_revoked_elsewhere_shows_counts_as_done_and_cannot_be_decided(attest):
    entitlement_revoke(entitlement=attest.none.entitlement, actor=attest.owner, reason="not needed")
    with pytest.raises(Conflict, match="elsewhere"):
        decide(attest.none, attest.owner, "certify")
    decide(attest.keep, attest.owner, "certify")
    decide(attest.revoke, attest.owner, "revoke")
    sign_off = services.review_signoff(run=attest.run, actor=attest.owner)
    assert sign_off.items == 3
    elsewhere = ReviewItem.objects.get(pk=attest.none.pk)
    assert elsewhere.state == "fulfilled" and elsewhere.decided_via == "elsewhere"


def test_sign_off_waits_for_every_item_and_freezes_them(attest):
    decide(attest.keep, attest.owner, "certify")
    with pytest.raises(Conflict, match="still wait"):
        services.review_signoff(run=attest.run, actor=attest.owner)
    decide(attest.revoke, attest.owner, "revoke")
    decide(attest.none, attest.owner, "certify")
    services.review_signoff(run=attest.run, actor=attest.owner, note="done")
    assert ReviewerSignOff.objects.get().items == 3
    with pytest.raises(Conflict, match="signed off"):
        decide(attest.keep, attest.owner, "revoke")
    with pytest.raises(Conflict, match="signed off"):
        services.review_signoff(run=attest.run, actor=attest.owner)


def test_bulk_certify_is_all_or_nothing_and_marks_each_decision_bulk(attest):
    with pytest.raises(ValidationError) as refused:
        services.review_items_decide(items=[attest.keep.uuid, attest.revoke.uuid], actor=attest.owner,
                                     decision="certify")  # fmt: skip
    assert fields(refused.value) == {"items.1"}  # the flagged item needs a comment
    assert ReviewItem.objects.filter(state="pending").count() == 3
    done = services.review_items_decide(items=[attest.keep.uuid, attest.none.uuid], actor=attest.owner,
                                        decision="certify", time_spent_ms=3000)  # fmt: skip
    assert all(
        item.bulk and item.time_spent_ms == 1500 for item in ReviewItem.objects.filter(pk__in=[d.pk for d in done])
    )
    assert AuditEntry.objects.get(action="review_item.bulk_certify").changes["items"]["count"] == 2


def test_accept_all_recommendations_certifies_keeps_revokes_revokes_and_leaves_the_rest(attest):
    accepted = services.review_items_accept_recommendations(actor=attest.owner)
    assert (accepted.certified, accepted.revoked, accepted.left) == (1, 1, 1)
    keep, revoke, none = (ReviewItem.objects.get(pk=i.pk) for i in (attest.keep, attest.revoke, attest.none))
    assert keep.decision == "certify" and keep.bulk and keep.decided_by == attest.owner
    assert revoke.decision == "revoke" and revoke.fulfilment_status == "pending" and revoke.bulk
    assert none.state == "pending"
    entry = AuditEntry.objects.get(action="review_item.accept_recommendations")
    assert entry.changes["items"]["count"] == 2 and entry.changes["revoked"] == 1


def test_accept_all_leaves_a_flagged_keep_without_a_comment_and_takes_it_with_one(attest):
    decide(attest.keep, attest.owner, "certify")
    flagged = make_item(attest.run, EntitlementFactory(identity=attest.estate.agent, tool=attest.estate.read,
                                                       granted_by=attest.owner, action="read", scope={"repo": "x"}),
                        attest.owner, recommendation="keep", flagged=True)  # fmt: skip
    assert services.review_items_accept_recommendations(actor=attest.owner).certified == 0
    assert ReviewItem.objects.get(pk=flagged.pk).state == "pending"
    assert services.review_items_accept_recommendations(actor=attest.owner, comment="still used").certified == 1
    assert ReviewItem.objects.get(pk=flagged.pk).comment == "still used"


def test_the_database_refuses_a_reassignment_the_reviewer_rule_does_not_name(attest):
    auditor = attest.estate.cast.auditor
    with pytest.raises(IntegrityError, match="reviewer rule"), transaction.atomic():
        ReviewItem.objects.filter(pk=attest.keep.pk).update(
            reviewer=auditor, routed_via="reassigned", reassigned_from=attest.owner
        )
    manager = attest.estate.cast.manager  # the accountable owner's manager: named by the owner rule
    ReviewItem.objects.filter(pk=attest.keep.pk).update(reviewer=manager, routed_via="reassigned",
                                                        reassigned_from=attest.owner)  # fmt: skip
    assert ReviewItem.objects.get(pk=attest.keep.pk).reviewer == manager


def test_the_database_refuses_an_owner_completing_a_privileged_reduce(attest):
    done = decide(attest.revoke, attest.owner, "reduce", scope={"repo": "acme/web"}, comment="only the web repo")
    with pytest.raises(IntegrityError, match="owner"), transaction.atomic():
        ReviewItem.objects.filter(pk=done.pk).update(fulfilled_by=attest.owner)
