"""My profile: any signed-in person sees their own profile and manages their own API tokens."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from agentiam.adapters import call_service
from agentiam.permissions import roles_required
from identities import services
from identities.forms import TokenForm
from identities.models import Profile
from identities.selectors import roles_held, tokens_of


def _context(request, **extra):
    profile = Profile.objects.with_people().get(user=request.user)
    return {
        "profile": profile,
        "person": request.user,
        "roles": roles_held(request.user),
        "tokens": tokens_of(request.user).select_related("revoked_by"),
        "form": TokenForm(),
        **extra,
    }


@roles_required()
@require_http_methods(["GET"])
def my_profile(request):
    return render(request, "identities/profile/detail.html", _context(request))


@roles_required()
@require_http_methods(["POST"])
@never_cache
def token_create(request):
    """Create a token and show its secret in this one response; it is never retrievable again."""
    form = TokenForm(request.POST)
    secret = created = None
    if form.is_valid():
        ok, result, _status = call_service(
            form,
            services.api_token_create,
            actor=request.user,
            name=form.cleaned_data["name"],
            expires_in_days=form.cleaned_data["expires_in_days"],
            request=request,
        )
        if ok:
            created, secret = result
            form = TokenForm()
    context = _context(request, form=form, secret=secret, created=created)
    return render(request, "identities/profile/detail.html", context, status=200 if created else 400)


@roles_required()
@require_http_methods(["GET", "POST"])
def token_revoke(request, uuid):
    # Only the person's own tokens are found: another person's token is a 404.
    token = get_object_or_404(tokens_of(request.user), uuid=uuid)
    if request.method == "POST" and token.revoked_at is None:
        services.api_token_revoke(actor=request.user, token=token, reason="revoked by its owner", request=request)
        messages.success(request, f"The token “{token.name}” was revoked. Programs using it are refused from now on.")
        return redirect("my_profile")
    return render(request, "identities/profile/token_revoke.html", {"token": token})
