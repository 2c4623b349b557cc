"""Whether a signed-in person still owes a second factor in this session, and what they must do.

Administrators, managers and security analysts always need one (agentiam.permissions.SECOND_FACTOR_REQUIRED;
no setting turns it off). Anyone else who enrolled a device is asked for it too: they chose the protection.
The factor is satisfied by a TOTP code checked in this session (django-otp's otp_device_id), or by an
identity provider that asserted multi-factor authentication for this very sign-in.
"""

from __future__ import annotations

from django_otp.plugins.otp_totp.models import TOTPDevice

from agentiam.permissions import SECOND_FACTOR_REQUIRED, roles_of

SESSION_IDP_MFA = "agentiam_idp_mfa_user"  # the pk of the person whose IdP sign-in asserted MFA
VERIFY, ENROL = "verify", "enrol"
DEVICE_NAME = "Authenticator app"


def required_for(user) -> bool:
    return bool(roles_of(user) & SECOND_FACTOR_REQUIRED)


def confirmed_device(user) -> TOTPDevice | None:
    """A person has at most one confirmed authenticator; replacing it means removing it first."""
    if not user.is_authenticated:
        return None
    return TOTPDevice.objects.filter(user_id=user.pk, confirmed=True).order_by("id").first()


def is_satisfied(request) -> bool:
    user = request.user
    is_verified = getattr(user, "is_verified", None)
    if is_verified is not None and is_verified():
        return True
    return str(request.session.get(SESSION_IDP_MFA, "")) == str(user.pk)


def pending_step(request) -> str | None:
    """None when the person may go on; VERIFY or ENROL otherwise."""
    user = request.user
    if not user.is_authenticated or is_satisfied(request):
        return None
    if confirmed_device(user) is not None:
        return VERIFY
    return ENROL if required_for(user) else None
