"""E-mail digests: one message listing several things (the day's pending approvals, a campaign's open
items), sent through Django's mail backend by the outbox's "email" channel."""

from __future__ import annotations

from collections.abc import Sequence

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage
from django.core.validators import validate_email

from agentiam import outbox
from agentiam.models import OutboxMessage

KIND = "email"
MAX_RECIPIENTS = 50
ERR_NO_RECIPIENT = "Name at least one recipient."
ERR_RECIPIENT = "{address!r} is not an e-mail address."
ERR_TOO_MANY = f"At most {MAX_RECIPIENTS} recipients a message."
ERR_SUBJECT = "The subject must be one line of at most 200 characters."


def email_digest(
    *, to: Sequence[str], subject: str, intro: str, items: Sequence[str], dedupe_key: str | None = None
) -> OutboxMessage:
    """Enqueue one e-mail: `intro`, then one line per item. Call inside the deciding transaction."""
    recipients = [address.strip() for address in to if address.strip()]
    errors: dict[str, list[str]] = {}
    if not recipients:
        errors["to"] = [ERR_NO_RECIPIENT]
    elif len(recipients) > MAX_RECIPIENTS:
        errors["to"] = [ERR_TOO_MANY]
    else:
        for address in recipients:
            try:
                validate_email(address)
            except ValidationError:
                errors.setdefault("to", []).append(ERR_RECIPIENT.format(address=address))
    if not subject.strip() or len(subject) > 200 or "\n" in subject or "\r" in subject:
        errors["subject"] = [ERR_SUBJECT]
    if errors:
        raise ValidationError(errors)
    body = "\n".join([intro.rstrip(), "", *(f"- {item}" for item in items), "", "— AgentIAM"])
    return outbox.enqueue(
        kind=KIND,
        destination=", ".join(recipients),
        payload={"to": recipients, "subject": subject.strip(), "body": body},
        dedupe_key=dedupe_key,
    )


def deliver(message: OutboxMessage) -> None:
    payload = message.payload
    EmailMessage(
        subject=payload["subject"],
        body=payload["body"],
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=payload["to"],
        headers={"X-AgentIAM-Delivery": str(message.uuid)},
    ).send()


outbox.register_channel(KIND, deliver)
