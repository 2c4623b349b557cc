"""Notifications on top of the outbox (agentiam.outbox): e-mail digests and signed webhooks. JIT elevation,
reviews and alerts send through these, never directly, so a notification leaves only if its transaction
commits and is retried until it arrives.

    from agentiam.notifications import email_digest, webhook_send
"""

from agentiam.notifications.email import email_digest
from agentiam.notifications.webhooks import sign, verify_signature, webhook_send

__all__ = ["email_digest", "sign", "verify_signature", "webhook_send"]
