"""Every person has a profile, however their user row was made (createsuperuser, SSO, a service); and the
signal a set-wise write sends when it revoked entitlements, so the runtime (a layer above) revokes the tokens
that relied on them in the same transaction."""

from __future__ import annotations

from django.conf import settings
from django.db.models.signals import post_save
from django.dispatch import Signal, receiver

from identities.models import Profile

# Sent with entitlement_ids (list of ids), reason and actor inside the revoking transaction; receivers return
# how many tokens they revoked. One-at-a-time writes go through identities.runtime.services.ending instead.
entitlements_revoked = Signal()


@receiver(post_save, sender=settings.AUTH_USER_MODEL, dispatch_uid="identities.profile_for_new_user")
def profile_for_new_user(sender, instance, created, raw=False, **kwargs):
    if created and not raw:
        Profile.objects.get_or_create(user=instance)
