"""Signed webhooks, delivered by the outbox's "webhook" channel through agentiam.outbound.

The body is JSON `{"id", "event", "created_at", "data"}`, plus `"text"` when given: one line a chat tool
shows (Slack-compatible incoming webhooks read `text` and ignore the rest). Each attempt sends
    X-AgentIAM-Delivery: the message's uuid, the same on every attempt (deduplicate on it)
    X-AgentIAM-Event: the event name
    X-AgentIAM-Timestamp: Unix seconds of this attempt
    X-AgentIAM-Signature: v1=<hex HMAC-SHA256 of "<timestamp>." + body under NOTIFY_WEBHOOK_SECRET>
A receiver recomputes the signature (`verify_signature`) and refuses old timestamps, so a captured request
cannot be replayed later. https only in production; only addresses in NOTIFY_WEBHOOK_ALLOWED_NETWORKS
(global addresses by default: no private targets unless allowed); no redirects; NOTIFY_WEBHOOK_TIMEOUT.
2xx is delivered; 408, 429 and 5xx, no answer or a timeout are retried; anything else fails at once.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import re
import time
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, ValidationError

from agentiam import outbox
from agentiam.models import OutboxMessage
from agentiam.outbound import OutboundError, OutboundRules, address_allowed, send

KIND = "webhook"
TOLERANCE = 300  # seconds a receiver should accept a timestamp for
ERR_URL = "Give an absolute http(s) URL without user information."
ERR_HTTPS = "Webhooks must use https."
ERR_ADDRESS = "{host} is outside the networks webhooks may reach (NOTIFY_WEBHOOK_ALLOWED_NETWORKS)."
ERR_EVENT = "An event name is letters, digits, dots, dashes and underscores (at most 100)."
ERR_NO_SECRET = "NOTIFY_WEBHOOK_SECRET is not set, so webhooks cannot be signed"  # noqa: S105 - a message
_EVENT = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")
_RETRIED = {408, 429}


def rules() -> OutboundRules:
    return OutboundRules(
        allowed_networks=tuple(settings.NOTIFY_WEBHOOK_ALLOWED_NETWORKS),
        purpose="webhooks",
        timeout=float(settings.NOTIFY_WEBHOOK_TIMEOUT),
        max_bytes=16 * 1024,
        http="never" if settings.PRODUCTION else "any",
    )


def check_url(url: str) -> None:
    """What can be checked before delivery (the host's addresses are checked again when sending)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username or parts.password:
        raise ValidationError({"url": [ERR_URL]})
    if parts.scheme == "http" and settings.PRODUCTION:
        raise ValidationError({"url": [ERR_HTTPS]})
    try:
        literal = ipaddress.ip_address(parts.hostname)
    except ValueError:
        return
    if not address_allowed(str(literal), rules()):
        raise ValidationError({"url": [ERR_ADDRESS.format(host=parts.hostname)]})


def webhook_send(
    *, url: str, event: str, data: dict[str, Any], text: str | None = None, dedupe_key: str | None = None
) -> OutboxMessage:
    """Enqueue a signed POST of `data` (and `text`, for chat tools) to `url`. Call inside the deciding
    transaction."""
    if not settings.NOTIFY_WEBHOOK_SECRET:
        raise ImproperlyConfigured(ERR_NO_SECRET)
    check_url(url)
    if not _EVENT.match(event):
        raise ValidationError({"event": [ERR_EVENT]})
    payload = {"event": event, "data": data, **({"text": text} if text else {})}
    return outbox.enqueue(kind=KIND, destination=url, payload=payload, dedupe_key=dedupe_key)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    return "v1=" + hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def verify_signature(secret: str, *, timestamp: str, body: bytes, signature: str, now: float | None = None) -> bool:
    """What a receiver checks: the signature matches and the timestamp is within TOLERANCE seconds."""
    if not timestamp.isdigit() or abs((now or time.time()) - int(timestamp)) > TOLERANCE:
        return False
    return hmac.compare_digest(sign(secret, int(timestamp), body), signature)


def body_of(message: OutboxMessage) -> bytes:
    document = {
        "id": str(message.uuid),
        "event": message.payload["event"],
        "created_at": message.created_at.isoformat(),
        "data": message.payload["data"],
    }
    if message.payload.get("text"):
        document["text"] = message.payload["text"]
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def deliver(message: OutboxMessage) -> None:
    if not settings.NOTIFY_WEBHOOK_SECRET:
        raise outbox.DeliveryFailed(ERR_NO_SECRET)  # retried: setting it lets the message go
    body, timestamp = body_of(message), int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "agentiam-webhooks",
        "X-AgentIAM-Delivery": str(message.uuid),
        "X-AgentIAM-Event": message.payload["event"],
        "X-AgentIAM-Timestamp": str(timestamp),
        "X-AgentIAM-Signature": sign(settings.NOTIFY_WEBHOOK_SECRET, timestamp, body),
    }
    try:
        reply = send("POST", message.destination, rules(), body=body, headers=headers)
    except OutboundError as error:
        raise outbox.DeliveryFailed(str(error), permanent=not error.transient) from None
    if 200 <= reply.status < 300:
        return
    retried = reply.status in _RETRIED or reply.status >= 500
    raise outbox.DeliveryFailed(f"{message.destination} answered {reply.status}", permanent=not retried)


outbox.register_channel(KIND, deliver)
