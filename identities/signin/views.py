"""Sign-in pages: password, second factor (verify and enrol), step-up, the person's own sign-in security
page, and the single sign-on entry points. Views validate, call one service and render."""

from __future__ import annotations

from base64 import b32encode
from urllib.parse import urlencode

import qrcode
import qrcode.image.svg
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render, resolve_url
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods
from django_otp.plugins.otp_totp.models import TOTPDevice, default_key

from agentiam.adapters import apply_errors
from agentiam.permissions import public, roles_required
from agentiam.stepup import step_up_remaining, step_up_required
from audit.models import AuditEntry
from identities.signin import services
from identities.signin.forms import CodeForm, StepUpForm
from identities.signin.second_factor import DEVICE_NAME, confirmed_device, is_satisfied, required_for

SESSION_ENROL_KEY = "agentiam_enrol_key"
SSO_FAILED = "Single sign-on did not sign you in. Your account may not be linked yet: ask an administrator."
ENROLLED = "Your authenticator is set up. You will be asked for a code each time you sign in."
REMOVED = "Your authenticator was removed."
REMOVED_ENROL_NOW = "Your authenticator was removed. Your role needs a second factor: set up a new one now."
STEPPED_UP = "Confirmed. Sensitive actions are allowed for the next {minutes} minutes."
RECENT_ACTIVITY = 10


def second_factor_exempt(view):
    """Reachable while the person still owes their second factor (the gate's own pages)."""
    view.second_factor_exempt = True
    return view


def safe_next(request, default: str = "dashboard") -> str:
    candidate = request.POST.get("next") or request.GET.get("next")
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return resolve_url(default)


def qr_svg(uri: str) -> str:
    """The otpauth URI as inline SVG markup (a path, no style attribute: the CSP stays strict)."""
    image = qrcode.make(uri, image_factory=qrcode.image.svg.SvgPathImage, box_size=10, border=2)
    return image.to_string(encoding="unicode")


def _grouped(secret: str) -> str:
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def _status(form) -> int:
    return 400 if form.is_bound and form.errors else 200


# --- Password sign-in and sign-out -------------------------------------------------------------------


class SignInView(auth_views.LoginView):
    template_name = "registration/login.html"
    redirect_authenticated_user = True

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["sso_enabled"] = getattr(settings, "OIDC_ENABLED", False)
        context["sso_name"] = getattr(settings, "OIDC_PROVIDER_NAME", "single sign-on")
        context["sso_failed"] = SSO_FAILED if self.request.GET.get("sso") == "failed" else ""
        return context


sign_in = public(never_cache(SignInView.as_view()))
sign_out = public(auth_views.LogoutView.as_view())


# --- Second factor -------------------------------------------------------------------------------------


@second_factor_exempt
@roles_required()
@require_http_methods(["GET", "POST"])
@never_cache
def second_factor_verify(request):
    next_url = safe_next(request)
    if is_satisfied(request):
        return redirect(next_url)
    device = confirmed_device(request.user)
    if device is None:
        return redirect(f"{reverse('second_factor_enrol')}?{urlencode({'next': next_url})}")
    form = CodeForm(request.POST or None)
    if form.is_valid():
        try:
            services.second_factor_verify(request=request, device=device, code=form.cleaned_data["code"])
        except ValidationError as error:
            apply_errors(form, error)
        else:
            return redirect(next_url)
    context = {"form": form, "next": next_url, "required": required_for(request.user)}
    return render(request, "signin/second_factor.html", context, status=_status(form))


@second_factor_exempt
@roles_required()
@require_http_methods(["GET", "POST"])
@never_cache
def second_factor_enrol(request):
    next_url = safe_next(request, "account_security")
    if confirmed_device(request.user) is not None:
        # Enrolling a second device would let someone who only knows the password add their own.
        return redirect(next_url if is_satisfied(request) else reverse("second_factor_verify"))
    key = request.session.get(SESSION_ENROL_KEY)
    if not isinstance(key, str) or len(key) != 40:
        key = request.session[SESSION_ENROL_KEY] = default_key()
    form = CodeForm(request.POST or None)
    if form.is_valid():
        try:
            services.second_factor_enrol(user=request.user, key=key, code=form.cleaned_data["code"], request=request)
        except ValidationError as error:
            apply_errors(form, error)
        else:
            del request.session[SESSION_ENROL_KEY]
            services.second_factor_login(request, confirmed_device(request.user))
            messages.success(request, ENROLLED)
            return redirect(next_url)
    draft = TOTPDevice(user=request.user, key=key, name=DEVICE_NAME)
    context = {
        "form": form,
        "next": next_url,
        "qr": mark_safe(qr_svg(draft.config_url)),  # noqa: S308 - generated by qrcode from our own URI
        "secret": _grouped(b32encode(draft.bin_key).decode()),
        "required": required_for(request.user),
        "signing_in": not is_satisfied(request),
    }
    return render(request, "signin/enrol.html", context, status=_status(form))


# --- Step-up ---------------------------------------------------------------------------------------------


@roles_required()
@require_http_methods(["GET", "POST"])
@never_cache
def step_up(request):
    next_url = safe_next(request, "account_security")
    device = confirmed_device(request.user)
    form = StepUpForm(request.POST or None, needs_code=device is not None)
    if form.is_valid():
        try:
            services.step_up_confirm(
                request=request, password=form.cleaned_data["password"], code=form.cleaned_data.get("code", "")
            )
        except services.SignedOut as signed_out:
            messages.error(request, str(signed_out))
            return redirect("login")
        except ValidationError as error:
            apply_errors(form, error)
        else:
            messages.success(request, STEPPED_UP.format(minutes=settings.STEP_UP_MAX_AGE // 60))
            return redirect(next_url)
    context = {"form": form, "next": next_url, "has_device": device is not None}
    return render(request, "signin/step_up.html", context, status=_status(form))


# --- The person's own sign-in security ----------------------------------------------------------------


@roles_required()
@require_http_methods(["GET"])
def account_security(request):
    user = request.user
    context = {
        "device": confirmed_device(user),
        "required": required_for(user),
        "step_up_seconds": step_up_remaining(request),
        "sso_links": list(user.sso_links.order_by("created_at")),
        "activity": list(
            AuditEntry.objects.filter(actor_id=user.pk, action__startswith="auth.").order_by("-id")[:RECENT_ACTIVITY]
        ),
    }
    return render(request, "signin/security.html", context)


@roles_required()
@require_http_methods(["GET", "POST"])
@step_up_required
def second_factor_remove(request):
    """GET asks for confirmation; POST removes. Either needs a fresh step-up."""
    device = confirmed_device(request.user)
    if device is None:
        return redirect("account_security")
    if request.method == "GET":
        return render(request, "signin/remove_device.html", {"device": device, "required": required_for(request.user)})
    try:
        services.second_factor_remove(actor=request.user, user=request.user, request=request)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect("account_security")
    if required_for(request.user):
        messages.warning(request, REMOVED_ENROL_NOW)
        return redirect("second_factor_enrol")
    messages.success(request, REMOVED)
    return redirect("account_security")


# --- Single sign-on (OpenID Connect), routed always, answering only when an issuer is configured --------


def _sso_view(class_path: str):
    def view(request, *args, **kwargs):
        if not getattr(settings, "OIDC_ENABLED", False):
            raise Http404("Single sign-on is not configured.")
        from django.utils.module_loading import import_string

        return import_string(class_path).as_view()(request, *args, **kwargs)

    return public(never_cache(view))


sso_start = _sso_view("mozilla_django_oidc.views.OIDCAuthenticationRequestView")
sso_callback = _sso_view("mozilla_django_oidc.views.OIDCAuthenticationCallbackView")


def locked_out(request, original_response=None, credentials=None):
    """django-axes' lockout answer (AXES_LOCKOUT_CALLABLE): 429 and how long to wait."""
    minutes = max(1, int(settings.AXES_COOLOFF_TIME.total_seconds() // 60))
    context = {"minutes": minutes, "failure_limit": settings.AXES_FAILURE_LIMIT}
    return render(request, "signin/lockout.html", context, status=429)
