"""Writes of sign-in security: second-factor devices, step-up, single sign-on links and persons created
through single sign-on. Each change is one transaction whose last statement is its audit entry; events
that change nothing else (a wrong code, a passed check) get an entry of their own."""

from __future__ import annotations

import re
import time
from binascii import unhexlify

import django_otp
from django.conf import settings
from django.contrib.auth import get_user_model, logout
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.middleware.csrf import rotate_token
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from agentiam.permissions import Role, has_role
from agentiam.stepup import clear_step_up, mark_stepped_up
from audit.trail import audit_record, audit_record_now
from identities.models import SSOLink
from identities.signin.second_factor import DEVICE_NAME, confirmed_device

User = get_user_model()

CODE_WRONG = "That code is not right. Enter the code your authenticator app shows now."
CODE_THROTTLED = "Too many wrong codes. Wait {wait}, then enter the code your app shows now."
ENROL_ALREADY = "You already have an authenticator. Remove it first to enrol a new one."
NO_DEVICE = "There is no authenticator to remove."
REMOVE_NOT_ALLOWED = "Only the person themselves or an administrator may remove an authenticator."
PASSWORD_WRONG = "That password is not right."  # noqa: S105 - a message
STEP_UP_SSO_ONLY = (
    "Your account has no password (it signs in through single sign-on), so it cannot confirm sensitive "
    "actions. Ask an administrator to set one."
)
STEP_UP_TOO_MANY = "You were signed out after too many failed checks. Sign in again."
SESSION_STEP_UP_FAILURES = "agentiam_step_up_failures"


class SignedOut(Exception):
    """The check failed too often; the session has been ended."""


def person_audit(user) -> dict:
    """The audit target for a person: their profile (public id) when they have one."""
    profile = getattr(user, "profile", None)
    if profile is not None:
        return {"target": profile}
    return {"object_type": "auth.user", "object_id": str(user.pk), "object_label": user.get_username()}


# --- Second factor -----------------------------------------------------------------------------------


def _throttled(device: TOTPDevice) -> ValidationError | None:
    allowed, info = device.verify_is_allowed()
    if allowed:
        return None
    wait = 1
    if info and info.get("locked_until"):
        wait = max(1, int((info["locked_until"] - timezone.now()).total_seconds()) + 1)
    return ValidationError({"code": [CODE_THROTTLED.format(wait=f"{wait} second{'s' if wait != 1 else ''}")]})


def check_code(*, user, device: TOTPDevice, code: str, request=None, purpose: str) -> TOTPDevice:
    """Verify a code against the person's device (replay-safe and throttled by django-otp).

    A wrong code is audited and raises ValidationError naming the `code` field."""
    error = _throttled(device)
    if error is not None:
        raise error
    verified = django_otp.verify_token(user, device.persistent_id, code)
    if verified is None:
        audit_record_now(
            actor=user,
            action="auth.second_factor.failed",
            **person_audit(user),
            changes={"purpose": purpose},
            request=request,
        )
        raise ValidationError({"code": [CODE_WRONG]})
    return verified


def rotate_session(request) -> None:
    """A new session key (and CSRF secret) once the session gains a privilege — the password at sign-in
    (Django's login does it), the second factor, a step-up — so a key fixed or seen before is worth nothing."""
    request.session.cycle_key()
    rotate_token(request)


def second_factor_login(request, device: TOTPDevice) -> None:
    """Record the verified device in the session under a new session key."""
    django_otp.login(request, device)
    rotate_session(request)


def second_factor_verify(*, request, device: TOTPDevice, code: str) -> TOTPDevice:
    """Finish signing in: the code is checked and the device recorded in the session (under a new key)."""
    user = request.user
    verified = check_code(user=user, device=device, code=code, request=request, purpose="sign_in")
    second_factor_login(request, verified)
    audit_record_now(actor=user, action="auth.second_factor.verified", **person_audit(user), request=request)
    return verified


@transaction.atomic
def second_factor_enrol(*, user, key: str, code: str, request=None) -> TOTPDevice:
    """Enrol an authenticator whose secret `key` (hex) the person was shown, proven by a current code.

    Only a person without a confirmed authenticator may enrol: otherwise someone who learnt the password
    could add a device of their own."""
    User.objects.select_for_update().filter(pk=user.pk).first()  # serialise concurrent enrolments
    if TOTPDevice.objects.filter(user_id=user.pk, confirmed=True).exists():
        raise ValidationError({"code": [ENROL_ALREADY]})
    totp = TOTP(unhexlify(key.encode()))
    totp.time = time.time()
    if not (code.isdigit() and totp.verify(int(code), tolerance=1)):
        raise ValidationError({"code": [CODE_WRONG]})
    TOTPDevice.objects.filter(user_id=user.pk, confirmed=False).delete()
    device = TOTPDevice.objects.create(
        user=user, name=DEVICE_NAME, key=key, confirmed=True, last_t=totp.t(), drift=totp.drift
    )
    audit_record(
        actor=user,
        action="auth.second_factor.enrol",
        **person_audit(user),
        changes={"device": "totp", "name": device.name},
        request=request,
    )
    return device


@transaction.atomic
def second_factor_remove(*, actor, user, request=None) -> int:
    """Remove a person's authenticators (they enrol again; a required factor is asked at once)."""
    if actor.pk != user.pk and not has_role(actor, Role.ADMINISTRATOR):
        raise PermissionDenied(REMOVE_NOT_ALLOWED)
    devices = list(TOTPDevice.objects.select_for_update().filter(user_id=user.pk))
    if not devices:
        raise ValidationError(NO_DEVICE)
    TOTPDevice.objects.filter(pk__in=[device.pk for device in devices]).delete()
    audit_record(
        actor=actor,
        action="auth.second_factor.remove",
        **person_audit(user),
        changes={"devices": len(devices), "by_self": actor.pk == user.pk},
        request=request,
    )
    return len(devices)


# --- Step-up -----------------------------------------------------------------------------------------


def _step_up_failed(request, field: str, error: ValidationError) -> None:
    user = request.user
    failures = int(request.session.get(SESSION_STEP_UP_FAILURES, 0)) + 1
    request.session[SESSION_STEP_UP_FAILURES] = failures
    audit_record_now(
        actor=user, action="auth.step_up.failed", **person_audit(user), changes={"field": field}, request=request
    )
    if failures >= settings.AXES_FAILURE_LIMIT:
        request.agentiam_logout_reason = "step_up_failures"
        logout(request)
        raise SignedOut(STEP_UP_TOO_MANY)
    raise error


def step_up_confirm(*, request, password: str, code: str = "") -> None:
    """Check the password and, for a person with an authenticator, a current code; then record the
    step-up in the session. Repeated failures end the session."""
    user = request.user
    if not user.has_usable_password():
        raise ValidationError({"password": [STEP_UP_SSO_ONLY]})
    # The password first: a session thief without it learns nothing about, and burns no, codes.
    if not user.check_password(password):
        _step_up_failed(request, "password", ValidationError({"password": [PASSWORD_WRONG]}))
    device = confirmed_device(user)
    if device is not None:
        try:
            check_code(user=user, device=device, code=code, request=request, purpose="step_up")
        except ValidationError as error:
            _step_up_failed(request, "code", error)
    request.session.pop(SESSION_STEP_UP_FAILURES, None)
    clear_step_up(request)
    mark_stepped_up(request)
    rotate_session(request)
    audit_record_now(
        actor=user,
        action="auth.step_up",
        **person_audit(user),
        changes={"second_factor": device is not None},
        request=request,
    )


# --- Single sign-on -------------------------------------------------------------------------------


@transaction.atomic
def sso_link_create(*, user, issuer: str, subject: str, request=None) -> SSOLink:
    """Link an identity-provider account to a person (made once, from a verified e-mail)."""
    link = SSOLink.objects.create(user=user, issuer=issuer, subject=subject)
    audit_record(
        actor=user,
        action="auth.sso.link",
        **person_audit(user),
        changes={"issuer": issuer, "subject": subject, "matched_by": "verified_email"},
        request=request,
    )
    return link


_USERNAME_OK = re.compile(r"^[\w.@+-]{1,120}$")


def _free_username(*candidates: str) -> str:
    for candidate in candidates:
        if candidate and _USERNAME_OK.match(candidate) and not User.objects.filter(username__iexact=candidate).exists():
            return candidate
    base = next((c for c in candidates if c and _USERNAME_OK.match(c)), "sso-person")[:110]
    number = 2
    while User.objects.filter(username__iexact=f"{base}-{number}").exists():
        number += 1
    return f"{base}-{number}"


@transaction.atomic
def sso_person_create(
    *,
    issuer: str,
    subject: str,
    preferred_username: str = "",
    email: str = "",
    first_name: str = "",
    last_name: str = "",
    request=None,
) -> User:
    """A person created at their first single sign-on (only when OIDC_CREATE_USERS is on). They get no
    role and no password: an administrator decides what they may do."""
    username = _free_username(preferred_username.strip(), email.split("@")[0] if email else "")
    user = User.objects.create_user(
        username=username, email=email, first_name=first_name[:150], last_name=last_name[:150]
    )
    SSOLink.objects.create(user=user, issuer=issuer, subject=subject)
    audit_record(
        actor=f"sso:{issuer}",
        actor_kind="system",
        action="person.create",
        **person_audit(user),
        changes={"username": username, "email": email, "source": "sso", "issuer": issuer, "subject": subject},
        request=request,
    )
    return user
