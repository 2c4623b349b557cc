"""Sign-ins and sign-outs go into the audit trail; failed sign-ins and lockouts into the security-event log.
A password never does: only the username that was tried, truncated, so a password typed into the wrong
field is not kept whole."""

from __future__ import annotations

from axes.signals import user_locked_out
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from agentiam import refusals
from audit.trail import audit_record_now
from identities.signin.middleware import start_session_clock
from identities.signin.second_factor import SESSION_IDP_MFA
from identities.signin.services import person_audit

ATTEMPTED_USERNAME_MAX = 64
SSO_BACKEND = "identities.signin.oidc.SSOBackend"


def attempted_username(credentials: dict | None) -> str:
    value = (credentials or {}).get("username") or ""
    return str(value).replace("\x00", "")[:ATTEMPTED_USERNAME_MAX]


@receiver(user_logged_in, dispatch_uid="identities.signin.login")
def record_login(sender, request, user, **kwargs):
    method = "sso" if getattr(user, "backend", "") == SSO_BACKEND else "password"
    idp_mfa = bool(getattr(user, "agentiam_idp_mfa", False))
    if request is not None and hasattr(request, "session"):
        start_session_clock(request.session)
        if idp_mfa:
            request.session[SESSION_IDP_MFA] = user.pk
    changes = {"method": method}
    if method == "sso":
        changes["mfa_asserted_by_idp"] = idp_mfa
    audit_record_now(actor=user, action="auth.login", **person_audit(user), changes=changes, request=request)


@receiver(user_logged_out, dispatch_uid="identities.signin.logout")
def record_logout(sender, request, user, **kwargs):
    if user is None:
        return
    reason = getattr(request, "agentiam_logout_reason", "signed_out") if request is not None else "signed_out"
    audit_record_now(
        actor=user, action="auth.logout", **person_audit(user), changes={"reason": reason}, request=request
    )


# Failed sign-ins and lockouts are unauthenticated: they go to the rate-limited security-event log
# (agentiam.refusals → audit.SecurityEvent), never to the chained trail, whose lock anonymous traffic must not
# queue behind. django-axes keeps its own full count per username and address.
@receiver(user_login_failed, dispatch_uid="identities.signin.login_failed")
def record_login_failed(sender, credentials, request=None, **kwargs):
    username = attempted_username(credentials)
    locked = " (locked out)" if getattr(request, "axes_locked_out", False) else ""
    refusals.probe(request, kind="auth.login.failed", detail=f"username {username}{locked}")


@receiver(user_locked_out, dispatch_uid="identities.signin.locked_out")
def record_lockout(sender, request, username=None, ip_address=None, **kwargs):
    name = attempted_username({"username": username})
    refusals.probe(request, kind="auth.lockout", detail=f"username {name}")
