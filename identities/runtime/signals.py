"""A token signing key marked compromised ends every token it signed that has not expired yet.

audit (the lowest layer) cannot know about tokens, so the runtime listens for the key's save: whatever marks
it compromised (`rotate_signing_key token --compromised` or any later path), the revocations are written in
the same transaction."""

from __future__ import annotations

from django.db.models.signals import post_save
from django.dispatch import receiver

from audit.models import SigningKey


@receiver(post_save, sender=SigningKey, dispatch_uid="runtime-revoke-compromised-key")
def revoke_tokens_of_compromised_key(sender, instance: SigningKey, created: bool, **kwargs) -> None:
    if instance.purpose != SigningKey.Purpose.TOKEN or instance.status != SigningKey.Status.COMPROMISED:
        return
    from identities.runtime.services.tokens import tokens_revoke_for_key

    tokens_revoke_for_key(kid=instance.kid, reason=f"signing key {instance.kid} compromised")
