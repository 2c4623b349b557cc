"""Demo second factors: every demo person whose role needs one gets a confirmed authenticator, so the
demo logins work end to end. `manage.py demo_totp USERNAME` prints the current code."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db.models import Q
from django_otp.plugins.otp_totp.models import TOTPDevice

from agentiam.permissions import SECOND_FACTOR_REQUIRED

ORDER = 20  # after identities (10), which creates the demo persons and their roles
DEMO_DEVICE_NAME = "Demo authenticator"
# Until roles are seeded, these are the demo persons whose role needs a second factor.
DEMO_SECOND_FACTOR_USERNAMES = ("admin", "manager", "analyst")


def demo_people_needing_second_factor():
    User = get_user_model()
    wanted = Q(username__in=DEMO_SECOND_FACTOR_USERNAMES) | Q(
        groups__name__in=[r.value for r in SECOND_FACTOR_REQUIRED]
    )
    return (
        User.objects.filter(wanted, is_active=True)
        .exclude(username__startswith="scale-")
        .distinct()
        .order_by("username")
    )


def demo(out) -> list[str]:
    people = list(demo_people_needing_second_factor())
    for person in people:
        # Never replaced: a second run must not invalidate an authenticator someone already scanned.
        if not TOTPDevice.objects.filter(user=person, confirmed=True).exists():
            TOTPDevice.objects.create(user=person, name=DEMO_DEVICE_NAME, confirmed=True)
    if not people:
        return []
    names = ", ".join(person.username for person in people)
    return [
        f"Second factor for {names}: after the password, enter the code printed by",
        "  .venv/bin/python manage.py demo_totp USERNAME",
    ]
