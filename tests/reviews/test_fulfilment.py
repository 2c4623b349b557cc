"""Fulfilment of review decisions: a revoke or reduce decided in a campaign is applied — entitlement, the
credentials bound to it and the tokens that relied on it together, through the runtime's entitlement_revoke —
by the outbox row written in the deciding transaction; exactly once however often it is delivered; failures
are recorded on the item, retried with backoff, and finally shown as failed until a compliance officer retries.
Real tokens (the exchange) and real decisions (decide) show the token is dead afterwards."""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager

import pytest
from django.contrib.auth.models import Group
from django.db import connections, transaction
from django.utils import timezone

from agentiam import outbox
from agentiam.errors import Conflict, PermissionDenied
from agentiam.models import OutboxMessage
from audit.models import AuditEntry
from identities import services as registry
from identities.models import Credential, Entitlement, Identity
from identities.runtime.models import TokenRevocation
from reviews.models import Eligibility, ReviewItem
from reviews.services.fulfilment import ERR_RETRY_NOTHING, ERR_RETRY_ROLE, KIND, fulfilment_enqueue, fulfilment_retry
from tests.factories import CredentialFactory, PersonFactory, ReviewItemFactory
from tests.reviews.campaign_support import decide, item_for, open_run
from tests.runtime_support import access_token, build_estate, introspect
from tests.support import child_env, free_port, start_worker, wait_until


@pytest.fixture
def estate(cast):
    return build_estate(cast)


def standing_read(estate) -> Entitlement:
    return Entitlement.objects.get(identity=estate.agent, tool=estate.read_repo, revoked_at__isnull=True)


def revocations_of(entitlement) -> int:
    return AuditEntry.objects.filter(action="entitlement.revoke", object_id=str(entitlement.uuid)).count()


def test_a_revoke_writes_its_outbox_row_in_the_deciding_transaction_and_rolls_back_with_it(estate):
    run = open_run()
    item = item_for(run, standing_read(estate), estate.cast.identity_owner)
    with pytest.raises(RuntimeError), transaction.atomic():
        decide(item, "revoke", comment="unused")
        assert OutboxMessage.objects.filter(kind=KIND).count() == 1
        raise RuntimeError("the decision fails after the hook")
    assert not OutboxMessage.objects.filter(kind=KIND).exists()
    item.refresh_from_db()
    assert item.state == "pending" and item.fulfilment_status == ""


def test_a_revoke_ends_the_entitlement_its_credential_and_its_tokens_together_exactly_once(estate):
    entitlement = standing_read(estate)
    credential = CredentialFactory(holders=[estate.agent], entitlements=[entitlement])
    token = access_token()["access_token"]
    assert introspect(estate.credential, token).json()["active"] is True
    item = decide(item_for(open_run(), entitlement, estate.cast.identity_owner), "revoke", comment="never used")
    assert item.fulfilment_status == "pending" and item.state == "decided"
    assert standing_read(estate) == entitlement  # nothing happened yet: the worker does it

    outbox.deliver_due()
    outbox.deliver_due()  # a second sweep, a duplicate task: nothing more
    item.refresh_from_db()
    entitlement.refresh_from_db()
    assert (item.state, item.fulfilment_status, item.fulfilment_attempts) == ("fulfilled", "done", 1)
    assert item.fulfilled_at is not None and item.fulfilment_error == ""
    assert entitlement.revoked_at is not None and entitlement.revoked_by == estate.cast.identity_owner
    assert "never used" in entitlement.revoke_reason
    assert Credential.objects.get(pk=credential.pk).revocation_status == "requested"
    assert introspect(estate.credential, token).json() == {"active": False}
    assert TokenRevocation.objects.count() == 1
    assert revocations_of(entitlement) == 1
    entry = AuditEntry.objects.get(action="entitlement.revoke", object_id=str(entitlement.uuid))
    assert entry.changes["certified"].startswith(f"review item {item.uuid}")
    assert entry.changes["credentials_revocation_requested"] == 1 and entry.changes["tokens_revoked"] == 1

    with transaction.atomic():  # the hook called again for a fulfilled item hands over nothing
        assert fulfilment_enqueue(item=item) == 0


def test_a_manager_reviewer_revokes_what_they_could_not_revoke_by_hand(estate):
    """The reviewer's authority is the campaign's: the owner's manager has no right to change the identity."""
    entitlement = standing_read(estate)
    with pytest.raises(PermissionDenied):
        from identities.runtime.services import entitlement_revoke

        entitlement_revoke(entitlement=entitlement, actor=estate.cast.manager, reason="by hand")
    item = decide(item_for(open_run(), entitlement, estate.cast.manager, routed_via="manager"), "revoke")
    outbox.deliver_due()
    item.refresh_from_db()
    assert item.state == "fulfilled"
    assert Entitlement.objects.get(pk=entitlement.pk).revoked_by == estate.cast.manager


def test_a_reduce_of_a_read_entitlement_replaces_it_by_the_narrower_one(estate):
    entitlement = standing_read(estate)
    item = decide(item_for(open_run(), entitlement, estate.cast.identity_owner), "reduce",
                  reduce_scope={"repo": "acme/api"})  # fmt: skip
    outbox.deliver_due()
    item.refresh_from_db()
    assert item.state == "fulfilled" and item.replacement is not None
    assert item.replacement.scope == {"repo": "acme/api"} and item.replacement.revoked_at is None
    assert Entitlement.objects.get(pk=entitlement.pk).revoked_at is not None


def test_jit_only_revokes_the_standing_entitlement_and_leaves_an_eligibility(estate):
    entitlement = standing_read(estate)
    item = decide(item_for(open_run(), entitlement, estate.cast.identity_owner), "reduce", reduce_jit_only=True)
    outbox.deliver_due()
    item.refresh_from_db()
    assert item.state == "fulfilled" and item.eligibility is not None
    eligibility = Eligibility.objects.get(pk=item.eligibility_id)
    assert (eligibility.identity_id, eligibility.tool_id, eligibility.action) == (
        estate.agent.pk,
        estate.read_repo.pk,
        "read",
    )
    assert Entitlement.objects.get(pk=entitlement.pk).revoked_at is not None


def test_a_privileged_reduce_waiting_for_an_administrator_is_not_handed_over(estate):
    write = registry.entitlement_grant(identity=estate.agent, tool=estate.create_pr, action="write",
                                       actor=estate.cast.administrator, scope={"repo": "acme/*"})  # fmt: skip
    item = item_for(open_run(), write, estate.cast.identity_owner)
    with transaction.atomic():
        ReviewItem.objects.filter(pk=item.pk).update(
            state="decided", decision="reduce", decided_via="reviewer", decided_by=estate.cast.identity_owner,
            decided_at=timezone.now(), reduce_scope={"repo": "acme/api"}, fulfilment_status="awaiting_admin",
        )  # fmt: skip
        assert fulfilment_enqueue(item=item) == 0
    assert not OutboxMessage.objects.filter(kind=KIND).exists()


def test_an_entitlement_revoked_elsewhere_meanwhile_is_done_without_a_second_revocation(estate):
    entitlement = standing_read(estate)
    item = decide(item_for(open_run(), entitlement, estate.cast.identity_owner), "revoke")
    from identities.runtime.services import entitlement_revoke

    entitlement_revoke(entitlement=entitlement, actor=estate.cast.identity_owner, reason="by hand")
    outbox.deliver_due()
    item.refresh_from_db()
    assert item.state == "fulfilled" and "already revoked elsewhere" in item.fulfilment_error
    assert revocations_of(entitlement) == 1


def test_a_role_holding_revoke_takes_the_role_away_on_the_campaigns_authority(cast):
    holder = PersonFactory(roles=["administrator"])
    run = open_run()
    item = ReviewItemFactory(run=run, entitlement=None, identity=None, role_holder=holder, holder_person=holder,
                             role="administrator", granted_by=None, independent=False, reviewer=cast.manager,
                             routed_via="manager", due_at=run.due_at)  # fmt: skip
    decide(item, "revoke", comment="no longer administers")
    outbox.deliver_due()
    item.refresh_from_db()
    assert item.state == "fulfilled"
    assert not holder.groups.filter(name="administrator").exists()
    entry = AuditEntry.objects.get(action="role.revoke")
    assert entry.actor_label == cast.manager.username and entry.changes["certified"].startswith("review item")
    assert Group.objects.filter(name="administrator").exists()


def test_the_no_answer_revoke_is_applied_by_the_job(estate):
    entitlement = standing_read(estate)
    item = item_for(open_run(), entitlement, estate.cast.identity_owner)
    with transaction.atomic():
        ReviewItem.objects.filter(pk=item.pk).update(
            state="decided", decision="revoke", decided_via="no_answer", decided_at=timezone.now(),
            fulfilment_status="pending",
        )  # fmt: skip
        fulfilment_enqueue(item=item)
    outbox.deliver_due()
    entry = AuditEntry.objects.get(action="entitlement.revoke", object_id=str(entitlement.uuid))
    assert entry.actor_kind == "job" and entry.actor_label == "reviews.fulfilment"
    assert Entitlement.objects.get(pk=entitlement.pk).revoked_by is None


def test_many_items_decided_at_once_go_in_chunks_of_one_outbox_row_each(estate, django_assert_max_num_queries):
    run = open_run()
    items = []
    for n in range(120):
        extra = registry.entitlement_grant(identity=estate.agent, tool=estate.read_repo, action="read",
                                           actor=estate.cast.identity_owner, scope={"repo": f"acme/r{n}"})  # fmt: skip
        items.append(item_for(run, extra, estate.cast.identity_owner))
    with transaction.atomic():
        ReviewItem.objects.filter(pk__in=[i.pk for i in items]).update(
            state="decided", decision="revoke", decided_via="reviewer", decided_by=estate.cast.identity_owner,
            decided_at=timezone.now(), bulk=True, fulfilment_status="pending",
        )  # fmt: skip
        with django_assert_max_num_queries(10):
            assert fulfilment_enqueue(items=[i.pk for i in items]) == 120
    assert OutboxMessage.objects.filter(kind=KIND).count() == 3  # 50 + 50 + 20
    outbox.deliver_due()
    assert ReviewItem.objects.filter(run=run, state="fulfilled").count() == 120


# --- failures -------------------------------------------------------------------------------------------------


@contextmanager
def identity_held(identity):
    """Another connection holds the identity's row lock (an administrator's long change, say) meanwhile."""
    locked, release = threading.Event(), threading.Event()

    def hold():
        try:
            with transaction.atomic():
                Identity.objects.select_for_update().get(pk=identity.pk)
                locked.set()
                release.wait(30)
        finally:
            connections.close_all()

    holder = threading.Thread(target=hold)
    holder.start()
    assert locked.wait(10)
    try:
        yield
    finally:
        release.set()
        holder.join(30)


@pytest.mark.django_db(transaction=True)
def test_a_busy_identity_fails_the_attempt_which_is_retried_with_backoff_then_succeeds(cast, settings):
    settings.OUTBOX_RETRY_BASE = 30
    estate = build_estate(cast)
    entitlement = standing_read(estate)
    item = decide(item_for(open_run(), entitlement, cast.identity_owner), "revoke")
    with identity_held(estate.agent):
        outbox.deliver_due()
    item.refresh_from_db()
    assert (item.state, item.fulfilment_status, item.fulfilment_attempts) == ("decided", "pending", 1)
    assert "lock timeout" in item.fulfilment_error
    wait = (item.fulfilment_next_at - timezone.now()).total_seconds()
    assert 20 < wait <= 30  # the outbox's backoff: RETRY_BASE * 2^0
    message = OutboxMessage.objects.get(kind=KIND)
    assert message.status == "pending" and message.attempts == 1
    assert Entitlement.objects.get(pk=entitlement.pk).revoked_at is None

    outbox.deliver_due()  # not due yet: nothing
    assert ReviewItem.objects.get(pk=item.pk).fulfilment_attempts == 1
    OutboxMessage.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now())
    outbox.deliver_due()
    item.refresh_from_db()
    assert (item.state, item.fulfilment_status, item.fulfilment_attempts) == ("fulfilled", "done", 2)
    assert revocations_of(entitlement) == 1


@pytest.mark.django_db(transaction=True)
def test_a_passing_failure_becomes_final_after_the_outboxs_last_attempt(cast, settings):
    settings.OUTBOX_MAX_ATTEMPTS = 1
    estate = build_estate(cast)
    item = decide(item_for(open_run(), standing_read(estate), cast.identity_owner), "revoke")
    with identity_held(estate.agent):
        outbox.deliver_due()
    item.refresh_from_db()
    assert (item.state, item.fulfilment_status, item.fulfilment_next_at) == ("failed", "failed", None)
    assert "lock timeout" in item.fulfilment_error
    assert OutboxMessage.objects.get(kind=KIND).status == "delivered"  # the item holds the failure now


def test_a_refusal_no_retry_can_fix_fails_the_item_at_once_until_a_compliance_officer_retries(estate):
    entitlement = standing_read(estate)
    run = open_run()
    # The narrower entitlement already exists: the replacement is refused as a duplicate.
    registry.entitlement_grant(identity=estate.agent, tool=estate.read_repo, action="read",
                               actor=estate.cast.identity_owner, scope={"repo": "acme/api"})  # fmt: skip
    item = decide(item_for(run, entitlement, estate.cast.identity_owner), "reduce", reduce_scope={"repo": "acme/api"})
    outbox.deliver_due()
    item.refresh_from_db()
    assert (item.state, item.fulfilment_status, item.fulfilment_attempts) == ("failed", "failed", 1)
    assert "identical active standing entitlement" in item.fulfilment_error
    assert Entitlement.objects.get(pk=entitlement.pk).revoked_at is None  # nothing half done

    with pytest.raises(PermissionDenied, match=ERR_RETRY_ROLE):
        fulfilment_retry(run=run, actor=estate.cast.administrator)
    duplicate = Entitlement.objects.get(identity=estate.agent, scope={"repo": "acme/api"}, revoked_at__isnull=True)
    from identities.runtime.services import entitlement_revoke

    entitlement_revoke(entitlement=duplicate, actor=estate.cast.identity_owner, reason="clears the way")
    assert fulfilment_retry(run=run, actor=estate.cast.compliance_officer) == 1
    item.refresh_from_db()
    assert (item.state, item.fulfilment_status) == ("decided", "pending")
    assert AuditEntry.objects.filter(action="campaign_run.fulfilment_retry").count() == 1
    outbox.deliver_due()
    item.refresh_from_db()
    assert item.state == "fulfilled" and item.replacement.scope == {"repo": "acme/api"}
    with pytest.raises(Conflict, match=ERR_RETRY_NOTHING):
        fulfilment_retry(run=run, actor=estate.cast.compliance_officer)


# --- a Redis outage: real broker, real worker ----------------------------------------------------------------


@contextmanager
def broker_unreachable():
    """Redis as the app sees it is down: the broker URL is an address nothing listens on (a real refused
    connection, not a mock), until the block ends."""
    from agentiam.celery import app as celery_app

    def reconnect(url: str) -> None:  # what a fork does: the next publish opens a connection to `url`
        celery_app.conf.broker_url = url
        celery_app._pool = None
        celery_app.amqp._producer_pool = None

    real = celery_app.conf.broker_url
    reconnect(f"redis://127.0.0.1:{free_port()}/0")
    try:
        yield
    finally:
        reconnect(real)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_revoke_decided_while_redis_is_unreachable_is_fulfilled_once_it_is_back_exactly_once(
    cast, redis_client, tmp_path, caplog
):
    from agentiam.tasks import deliver_outbox, sweep_outbox

    estate = build_estate(cast)
    entitlement = standing_read(estate)
    credential = CredentialFactory(holders=[estate.agent], entitlements=[entitlement])
    token = access_token()["access_token"]
    with broker_unreachable():
        item = decide(item_for(open_run(), entitlement, cast.identity_owner), "revoke", comment="unused for 90 days")
    # The commit's hand-off was refused by the dead broker, and the decision committed all the same.
    assert "not handed to the worker" in caplog.text and "Connection refused" in caplog.text
    message = OutboxMessage.objects.get(kind=KIND)
    assert (message.status, message.attempts) == ("pending", 0)
    assert item.fulfilment_status == "pending" and Entitlement.objects.get(pk=entitlement.pk).revoked_at is None

    worker = start_worker(child_env(), tmp_path / "worker.log")
    try:
        # Redis is back: beat's sweep runs (twice, as after a restart) and the lost hand-off arrives late, twice.
        sweep_outbox.delay()
        deliver_outbox.delay(message.pk)
        sweep_outbox.delay()
        deliver_outbox.delay(message.pk)
        wait_until(lambda: ReviewItem.objects.get(pk=item.pk).state == "fulfilled", timeout=90,
                   what="the worker's fulfilment")  # fmt: skip
        queue = settings_queue()
        wait_until(lambda: redis_client.llen(queue) == 0 and not redis_client.hlen("unacked"), timeout=60,
                   what="the worker to finish every duplicate")  # fmt: skip
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=30)
    log = (tmp_path / "worker.log").read_text()
    assert log.count("Task agentiam.tasks.deliver_outbox") >= 2 and "Task agentiam.tasks.sweep_outbox" in log
    item.refresh_from_db()
    message.refresh_from_db()
    assert (item.fulfilment_status, item.fulfilment_attempts, message.status, message.attempts) == (
        "done",
        1,
        "delivered",
        1,
    )
    assert revocations_of(entitlement) == 1 and TokenRevocation.objects.count() == 1
    assert Credential.objects.get(pk=credential.pk).revocation_status == "requested"
    assert introspect(estate.credential, token).json() == {"active": False}


def settings_queue() -> str:
    from django.conf import settings

    return settings.CELERY_TASK_DEFAULT_QUEUE
