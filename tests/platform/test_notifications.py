"""Notifications on the outbox: e-mail digests through Django's mail backend, and HMAC-signed webhooks to a
real HTTP server on loopback — signature, retries with the same delivery id, no redirects, address and
scheme rules, timeout — and a real worker delivering one after commit."""

import json
import signal
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core import mail
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db import transaction

from agentiam.models import OutboxMessage
from agentiam.notifications import email_digest, verify_signature, webhook_send
from agentiam.notifications.email import ERR_RECIPIENT, ERR_SUBJECT
from agentiam.notifications.webhooks import ERR_ADDRESS, ERR_HTTPS
from agentiam.outbox import deliver_due
from audit.models import AuditEntry
from tests.platform.test_settings import PRODUCTION_ENV, run_manage
from tests.support import child_env, start_worker, wait_until

pytestmark = pytest.mark.django_db

Status = OutboxMessage.Status


class Receiver:
    """A webhook receiver on 127.0.0.1: answers from `answers` (status, headers, delay) in turn, then 204."""

    def __init__(self):
        self.received: list[dict] = []
        self.answers: list[tuple[int, dict, float]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append({"path": self.path, "headers": dict(self.headers), "body": body})
                status, headers, delay = receiver.answers.pop(0) if receiver.answers else (204, {}, 0)
                time.sleep(delay)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def url(self, path="/hook"):
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def receiver(settings):
    settings.NOTIFY_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    settings.NOTIFY_WEBHOOK_TIMEOUT = 1
    settings.OUTBOX_MAX_ATTEMPTS = 3
    running = Receiver()
    yield running
    running.close()


def send_hook(url, **fields) -> OutboxMessage:
    with transaction.atomic():
        return webhook_send(url=url, **{"event": "jit.approved", "data": {"grant": "g-1", "who": "zoë"}, **fields})


def attempt(message) -> OutboxMessage:
    OutboxMessage.objects.filter(pk=message.pk).update(next_attempt_at=message.created_at)
    deliver_due(message_id=message.pk)
    message.refresh_from_db()
    return message


# --- e-mail --------------------------------------------------------------------------------------------------


def test_an_email_digest_is_sent_through_the_mail_backend_once_delivered(settings):
    settings.DEFAULT_FROM_EMAIL = "agentiam@example.org"
    with transaction.atomic():
        message = email_digest(
            to=["ann@example.org", " bob@example.org "],
            subject="3 elevation requests wait for you",
            intro="These requests wait for your decision:",
            items=["triage-bot: github.pr:write", "deploy-bot: vault.read", "sub-bot: jira.write"],
            dedupe_key="digest:approvals:ann:2026-12-07",
        )
    assert mail.outbox == []  # nothing leaves before delivery
    assert attempt(message).status == Status.DELIVERED
    [sent] = mail.outbox
    assert sent.to == ["ann@example.org", "bob@example.org"] and sent.from_email == "agentiam@example.org"
    assert sent.subject == "3 elevation requests wait for you"
    assert sent.body.splitlines()[:3] == ["These requests wait for your decision:", "", "- triage-bot: github.pr:write"]
    assert sent.extra_headers["X-AgentIAM-Delivery"] == str(message.uuid)


def test_an_email_digest_names_the_field_it_refuses():
    with pytest.raises(ValidationError) as refused, transaction.atomic():
        email_digest(to=["ann@example.org", "not an address"], subject="Two\nlines", intro="", items=[])
    assert refused.value.message_dict == {
        "to": [ERR_RECIPIENT.format(address="not an address")],
        "subject": [ERR_SUBJECT],
    }
    assert not OutboxMessage.objects.exists()


# --- webhooks ------------------------------------------------------------------------------------------------


def test_a_webhook_is_posted_signed_and_verifiable(receiver, settings):
    message = attempt(send_hook(receiver.url("/hook?team=ops")))
    assert message.status == Status.DELIVERED
    [got] = receiver.received
    headers, body = got["headers"], got["body"]
    assert got["path"] == "/hook?team=ops" and headers["Content-Type"] == "application/json"
    assert headers["X-AgentIAM-Delivery"] == str(message.uuid) and headers["X-AgentIAM-Event"] == "jit.approved"
    document = json.loads(body)
    assert document == {
        "id": str(message.uuid),
        "event": "jit.approved",
        "created_at": message.created_at.isoformat(),
        "data": {"grant": "g-1", "who": "zoë"},
    }
    secret = settings.NOTIFY_WEBHOOK_SECRET
    timestamp, signature = headers["X-AgentIAM-Timestamp"], headers["X-AgentIAM-Signature"]
    assert signature.startswith("v1=") and verify_signature(secret, timestamp=timestamp, body=body, signature=signature)
    assert not verify_signature(secret, timestamp=timestamp, body=body + b" ", signature=signature)
    assert not verify_signature("x" * 40, timestamp=timestamp, body=body, signature=signature)
    stale = str(int(timestamp) - 301)
    assert not verify_signature(secret, timestamp=stale, body=body, signature=signature)


def test_a_failing_receiver_is_retried_with_the_same_delivery_id(receiver):
    receiver.answers = [(503, {}, 0), (429, {}, 0)]
    message = send_hook(receiver.url())
    assert attempt(message).status == Status.PENDING and message.last_error.endswith("answered 503")
    assert attempt(message).status == Status.PENDING
    assert attempt(message).status == Status.DELIVERED and message.attempts == 3
    ids = {got["headers"]["X-AgentIAM-Delivery"] for got in receiver.received}
    assert ids == {str(message.uuid)} and len(receiver.received) == 3


def test_a_redirect_is_not_followed_and_fails_the_message_at_once(receiver):
    receiver.answers = [(302, {"Location": receiver.url("/elsewhere")}, 0)]
    message = attempt(send_hook(receiver.url()))
    assert message.status == Status.FAILED and message.attempts == 1 and "not followed" in message.last_error
    assert [got["path"] for got in receiver.received] == ["/hook"]
    assert AuditEntry.objects.get(action="outbox.failed").changes["destination"].startswith("http://127.0.0.1:")


def test_a_client_error_fails_at_once_and_a_slow_receiver_times_out_and_is_retried(receiver):
    receiver.answers = [(410, {}, 0)]
    assert attempt(send_hook(receiver.url())).status == Status.FAILED
    receiver.answers = [(204, {}, 2.5)]  # longer than NOTIFY_WEBHOOK_TIMEOUT
    slow = attempt(send_hook(receiver.url()))
    assert slow.status == Status.PENDING and "could not be read" in slow.last_error


def test_private_addresses_are_refused_unless_allowed(receiver, settings):
    settings.NOTIFY_WEBHOOK_ALLOWED_NETWORKS = ["public"]
    with pytest.raises(ValidationError) as refused, transaction.atomic():
        webhook_send(url=receiver.url(), event="x", data={})
    assert refused.value.message_dict == {"url": [ERR_ADDRESS.format(host="127.0.0.1")]}
    # A host name is checked by the addresses it resolves to, when sending.
    message = attempt(send_hook(receiver.url().replace("127.0.0.1", "localhost")))
    assert message.status == Status.FAILED and "outside the networks allowed for webhooks" in message.last_error
    assert receiver.received == []


def test_production_allows_https_only_and_needs_a_secret(receiver, settings):
    settings.PRODUCTION = True
    with pytest.raises(ValidationError) as refused, transaction.atomic():
        webhook_send(url=receiver.url(), event="x", data={})
    assert refused.value.message_dict == {"url": [ERR_HTTPS]}
    settings.NOTIFY_WEBHOOK_SECRET = ""
    with pytest.raises(ImproperlyConfigured, match="NOTIFY_WEBHOOK_SECRET"), transaction.atomic():
        webhook_send(url="https://hooks.example.org/x", event="x", data={})


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_delivers_a_webhook_once_its_transaction_commits(receiver, redis_client, tmp_path):
    worker = start_worker(child_env(NOTIFY_WEBHOOK_ALLOWED_NETWORKS="127.0.0.0/8"), tmp_path / "worker.log")
    try:
        message = send_hook(receiver.url("/committed"))  # on commit: agentiam.tasks.deliver_outbox
        wait_until(lambda: receiver.received, timeout=60, what="the webhook")
        wait_until(
            lambda: OutboxMessage.objects.get(pk=message.pk).status == Status.DELIVERED, timeout=30, what="delivery"
        )
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=30)
    [got] = receiver.received
    assert got["path"] == "/committed" and got["headers"]["X-AgentIAM-Delivery"] == str(message.uuid)
    assert "Task agentiam.tasks.deliver_outbox" in (tmp_path / "worker.log").read_text()


def test_notification_settings_fail_loudly_and_production_sends_through_smtp():
    bad = run_manage("check", env={"AGENTIAM_PROFILE": "test", "NOTIFY_WEBHOOK_ALLOWED_NETWORKS": "10.0.0.0/8,lan"})
    assert bad.returncode != 0 and "NOTIFY_WEBHOOK_ALLOWED_NETWORKS: 'lan' is not a CIDR" in bad.stderr
    short = run_manage("check", env={**PRODUCTION_ENV, "NOTIFY_WEBHOOK_SECRET": "too-short"})
    assert short.returncode != 0 and "NOTIFY_WEBHOOK_SECRET must be at least 32" in short.stderr
    code = "from django.conf import settings as s; print(s.EMAIL_BACKEND, repr(s.NOTIFY_WEBHOOK_SECRET))"
    production = run_manage("shell", "-v", "0", "-c", code, env=PRODUCTION_ENV)
    expected = ["django.core.mail.backends.smtp.EmailBackend", "''"]  # webhooks refused until a secret is set
    assert production.stdout.split() == expected, production.stderr
