"""Every person has a profile, however their user row was made (createsuperuser, SSO, a service)."""

from __future__ import annotations

from django.conf import settings
from django.db.models.signals import post_save
from django.dispatch import receiver

from identities.models import Profile


@receiver(post_save, sender=settings.AUTH_USER_MODEL, dispatch_uid="identities.profile_for_new_user")
def profile_for_new_user(sender, instance, created, raw=False, **kwargs):
    if created and not raw:
        Profile.objects.get_or_create(user=instance)
