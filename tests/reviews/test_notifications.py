"""Notifications of elevation requests through the outbox (reviews.notifications): the approvers on a new
request (one at once, then a digest for what follows within the window), the requester on a decision,
reminders before expiry, and the optional signed webhook — locmem mail in process, a real HTTP receiver, and
a real worker delivering after commit."""

from __future__ import annotations

import json
import signal
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from agentiam.models import OutboxMessage
from agentiam.notifications import verify_signature
from agentiam.outbox import deliver_due
from reviews import notifications, services
from reviews.models import ElevationRequest
from tests.platform.test_notifications import Receiver
from tests.reviews.support import ask
from tests.support import child_env, start_worker, wait_until

pytestmark = pytest.mark.django_db


def deliver_all():
    OutboxMessage.objects.filter(status="pending").update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    return deliver_due()


def other_task(estate, name, **extra):
    return ask(estate, task=name, **extra)


def test_the_approver_is_emailed_a_new_request_with_a_link_to_it_and_no_way_to_decide(estate):
    made = ask(estate)
    assert mail.outbox == []  # nothing leaves before delivery
    deliver_all()
    [sent] = mail.outbox
    assert sent.to == [estate.cast.manager.email]
    assert sent.subject == "Elevation request: triage-bot asks for github.create_pull_request:write"
    body = sent.body
    assert "triage-bot (medium risk)" in body and "Task: fix-ci" in body and "Why: CI is red on main" in body
    assert f"http://127.0.0.1:8000/reviews/requests/{made.uuid}/" in body
    assert "approve" not in body.lower().replace("approver", "")


def test_more_requests_within_the_window_go_as_one_digest_of_what_is_still_undecided(estate, settings):
    settings.REVIEWS_DIGEST_WINDOW = 600
    first = ask(estate)
    second = other_task(estate, "fix-lint")
    third = other_task(estate, "fix-docs")
    digest = OutboxMessage.objects.get(kind=notifications.DIGEST_KIND)  # one, for both later requests
    told = OutboxMessage.objects.get(kind="email")
    assert digest.next_attempt_at == told.created_at + timedelta(seconds=600)
    assert deliver_due() == {"delivered": 1, "pending": 0, "failed": 0}  # the digest is not due yet
    assert len(mail.outbox) == 1 and str(first.uuid) in mail.outbox[0].body
    services.request_deny(elevation_request=third, actor=estate.cast.manager, comment="no")
    mail.outbox.clear()
    deliver_all()
    [denied] = [m for m in mail.outbox if m.subject.startswith("Elevation request denied")]
    [summary] = [m for m in mail.outbox if m is not denied]
    assert denied.to == [estate.cast.identity_owner.email]
    assert summary.subject == "1 elevation request(s) wait for you" and summary.to == [estate.cast.manager.email]
    assert str(second.uuid) in summary.body and str(third.uuid) not in summary.body  # decided meanwhile
    assert "http://127.0.0.1:8000/reviews/inbox/" in summary.body


def test_after_the_window_the_next_request_is_told_at_once_again(estate, settings):
    ask(estate)
    OutboxMessage.objects.update(created_at=timezone.now() - timedelta(seconds=settings.REVIEWS_DIGEST_WINDOW + 1))
    other_task(estate, "fix-lint")
    assert OutboxMessage.objects.filter(kind="email").count() == 2
    assert not OutboxMessage.objects.filter(kind=notifications.DIGEST_KIND).exists()


def test_a_digest_whose_requests_were_all_decided_sends_nothing(estate):
    ask(estate)
    second = other_task(estate, "fix-lint")
    services.request_approve(elevation_request=second, actor=estate.cast.manager)
    mail.outbox.clear()
    OutboxMessage.objects.exclude(kind=notifications.DIGEST_KIND).update(status="delivered")
    deliver_all()
    assert mail.outbox == [] and OutboxMessage.objects.get(kind=notifications.DIGEST_KIND).status == "delivered"


def test_the_requester_is_told_who_approved_and_what_was_granted_until_when(estate):
    made = ask(estate)
    services.request_approve(elevation_request=made, actor=estate.cast.manager, comment="go", duration_seconds=1800)
    mail.outbox.clear()
    deliver_all()
    decided = [m for m in mail.outbox if m.to == [estate.cast.identity_owner.email]]
    [sent] = decided
    made.refresh_from_db()
    manager = estate.cast.manager.get_full_name() or estate.cast.manager.username
    assert sent.subject == "Elevation request approved: triage-bot, github.create_pull_request:write"
    assert f"Approved by: {manager}" in sent.body and "Granted: github.create_pull_request:write" in sent.body
    assert f"For: 30 min, until {made.grant.ends_at:%Y-%m-%d %H:%M} UTC" in sent.body
    assert "(less was granted)" in sent.body and f"{manager} said: go" in sent.body


def test_the_requester_is_told_of_a_deny_and_its_reason(estate):
    made = ask(estate)
    services.request_deny(elevation_request=made, actor=estate.cast.manager, comment="Not during the freeze")
    deliver_all()
    [sent] = [m for m in mail.outbox if "denied" in m.subject]
    assert sent.to == [estate.cast.identity_owner.email] and "said: Not during the freeze" in sent.body


def test_a_refused_request_sends_nothing(estate):
    with pytest.raises(Exception, match="At most"):
        ask(estate, duration_seconds=10**6)
    assert not OutboxMessage.objects.exists()


def test_an_auto_approved_request_asks_no_approver(estate):
    from identities.models import Identity

    Identity.objects.filter(pk=estate.agent.pk).update(risk_tier="low")
    made = ask(estate, scopes=["github.read_repo:read"], duration_seconds=600)
    assert made.state == "approved" and not OutboxMessage.objects.exists()


def test_approvers_are_reminded_once_before_a_pending_request_expires(estate, settings):
    made = ask(estate)
    mail.outbox.clear()
    assert notifications.remind_due() == 0  # a day away: not yet
    ElevationRequest.objects.filter(pk=made.pk).update(expires_at=timezone.now() + timedelta(minutes=30))
    assert notifications.remind_due() == 1
    assert notifications.remind_due() == 0  # once
    deliver_all()
    [reminder] = [m for m in mail.outbox if m.subject.startswith("Reminder")]
    assert reminder.to == [estate.cast.manager.email] and str(made.uuid) in reminder.body


def test_the_reminder_beat_job_is_scheduled(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["reviews-remind"]
    assert entry["task"] == "reviews.tasks.remind_pending" and entry["schedule"] <= 3600


@pytest.fixture
def receiver(settings):
    settings.NOTIFY_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    running = Receiver()
    settings.REVIEWS_WEBHOOK_URL = running.url("/slack")
    yield running
    running.close()


def test_the_webhook_carries_slack_text_and_a_link_signed_with_hmac_never_a_decision(estate, receiver, settings):
    made = ask(estate)
    deliver_all()
    [got] = receiver.received
    document = json.loads(got["body"])
    link = f"http://127.0.0.1:8000/reviews/requests/{made.uuid}/"
    assert document["event"] == "elevation_request.created" and document["data"]["link"] == link
    assert document["text"].endswith(link)
    assert "asks for github.create_pull_request:write on triage-bot" in document["text"]
    headers = got["headers"]
    assert verify_signature(
        settings.NOTIFY_WEBHOOK_SECRET,
        timestamp=headers["X-AgentIAM-Timestamp"],
        body=got["body"],
        signature=headers["X-AgentIAM-Signature"],
    )
    assert "approve" not in got["body"].decode().lower()
    services.request_deny(elevation_request=made, actor=estate.cast.manager)
    deliver_all()
    assert json.loads(receiver.received[-1]["body"])["event"] == "elevation_request.denied"


def test_a_misconfigured_webhook_never_refuses_the_request(estate, settings):
    settings.REVIEWS_WEBHOOK_URL = "ftp://nowhere"
    made = ask(estate)
    assert made.state == "pending" and not OutboxMessage.objects.filter(kind="webhook").exists()


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_sends_the_approvers_mail_and_the_webhook_after_commit(estate, receiver, redis_client, tmp_path):
    log = tmp_path / "worker.log"
    env = child_env(
        NOTIFY_WEBHOOK_ALLOWED_NETWORKS="127.0.0.0/8",
        REVIEWS_WEBHOOK_URL=receiver.url("/slack"),
        EMAIL_BACKEND="django.core.mail.backends.console.EmailBackend",  # the message lands in the worker's log
    )
    worker = start_worker(env, log)
    try:
        made = ask(estate)  # committed at once (no test transaction): the worker is handed both messages
        wait_until(lambda: receiver.received, timeout=60, what="the webhook")
        wait_until(
            lambda: OutboxMessage.objects.filter(status="delivered").count() == 2, timeout=30, what="both deliveries"
        )
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=30)
    text = log.read_text()
    assert f"/reviews/requests/{made.uuid}/" in text and f"To: {estate.cast.manager.email}" in text
    assert json.loads(receiver.received[0]["body"])["data"]["request"] == str(made.uuid)


def test_the_requester_is_told_once_when_a_request_expires_unanswered(estate):
    from reviews.tasks import expire_requests

    made = ask(estate)
    deliver_all()
    mail.outbox.clear()
    ElevationRequest.objects.filter(pk=made.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert expire_requests() == 1
    expire_requests()  # a second run (or worker) tells nobody twice
    [message] = OutboxMessage.objects.filter(dedupe_key=f"reviews.expired:{made.uuid}")
    assert message.payload["to"] == [estate.cast.identity_owner.email]
    deliver_all()
    [sent] = mail.outbox
    assert sent.subject == "Elevation request expired unanswered: triage-bot, github.create_pull_request:write"
    assert "Nobody decided" in sent.body and f"/reviews/requests/{made.uuid}/" in sent.body
    assert "nothing was granted" in sent.body


def test_when_the_agent_asked_its_accountable_owners_are_told_it_expired(estate):
    made = services.request_create(identity=estate.agent, agent=estate.agent, task="fix-ci",
                                   scopes=["github.create_pull_request:write"], justification="CI red",
                                   duration_seconds=3600)  # fmt: skip
    ElevationRequest.objects.filter(pk=made.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    services.requests_expire()
    assert notifications.notify_expired() == 1
    message = OutboxMessage.objects.get(dedupe_key=f"reviews.expired:{made.uuid}")
    assert message.payload["to"] == [estate.cast.identity_owner.email]
    assert notifications.notify_expired() == 0


def test_a_request_that_expired_long_ago_is_not_told_now(estate):
    made = ask(estate)
    ElevationRequest.objects.filter(pk=made.pk).update(expires_at=timezone.now() - timedelta(days=3))
    services.requests_expire(now=timezone.now())
    ElevationRequest.objects.filter(pk=made.pk).update(decided_at=timezone.now() - timedelta(days=2))
    assert notifications.notify_expired() == 0
