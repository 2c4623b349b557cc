"""Tokens end with what they relied on, even when a lower layer ended it.

audit (the lowest layer) cannot know about tokens, so the runtime listens for the signing key's save: whatever
marks it compromised (`rotate_signing_key token --compromised` or any later path), the revocations are written
in the same transaction. The registry import revokes entitlements set-wise and sends
`identities.signals.entitlements_revoked`; the tokens that relied on them are revoked here, in its transaction.
"""

from __future__ import annotations

from django.db.models.signals import post_save
from django.dispatch import receiver

from audit.models import SigningKey
from identities.runtime.services.tokens import tokens_revoke_for_key, tokens_revoke_relying_on
from identities.signals import entitlements_revoked


@receiver(post_save, sender=SigningKey, dispatch_uid="runtime-revoke-compromised-key")
def revoke_tokens_of_compromised_key(sender, instance: SigningKey, created: bool, **kwargs) -> None:
    if instance.purpose != SigningKey.Purpose.TOKEN or instance.status != SigningKey.Status.COMPROMISED:
        return
    tokens_revoke_for_key(kid=instance.kid, reason=f"signing key {instance.kid} compromised")


@receiver(entitlements_revoked, dispatch_uid="runtime-revoke-tokens-of-revoked-entitlements")
def revoke_tokens_of_revoked_entitlements(sender, entitlement_ids, reason: str, actor=None, **kwargs) -> int:
    label = actor.get_username() if actor is not None else "system"
    return tokens_revoke_relying_on(entitlements=entitlement_ids, reason=f"entitlement {reason}", actor_label=label)
