"""Ingest keys in the browser: the roles that see everything read the list (name, prefix, scope, who made it,
last use, revoked); administrators issue one — its secret shown once, in the answer to the POST — and revoke
one (confirm). Everything goes through audit.events.services, which audits it."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from agentiam.adapters import call_service, confirm, form_status
from agentiam.permissions import SEE_EVERYTHING, Role, has_role, roles_required
from audit.events import services
from audit.events.models import IngestKey

KEY_READERS = SEE_EVERYTHING
KEY_WRITERS = frozenset({Role.ADMINISTRATOR})
SHOWN = 200


def _lines(value: str) -> list[str]:
    return [line.strip() for line in (value or "").replace(",", "\n").splitlines() if line.strip()]


class IngestKeyForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What sends with it, e.g. otel-collector-prod.")
    all_identities = forms.BooleanField(
        required=False, label="Every identity", help_text="A collector that may write for everyone."
    )
    identities = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 3}), label="Identities",
        help_text="Public ids of the identities it may write for, one a line.",
    )  # fmt: skip
    service_names = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 3}), label="Service names",
        help_text="Registered service names (OpenTelemetry service.name) it may write for, one a line. "
        "With none of these, everything it sends is kept in quarantine.",
    )  # fmt: skip


class RevokeForm(forms.Form):
    pass


@roles_required(KEY_READERS)
@require_GET
def ingest_keys(request):
    keys = list(
        IngestKey.objects.select_related("created_by", "revoked_by")
        .prefetch_related("identities")
        .order_by("revoked_at", "-created_at", "-pk")[:SHOWN]
    )  # fmt: skip
    can_manage = has_role(request.user, *KEY_WRITERS)
    return render(request, "audit_events/ingest_keys.html", {"keys": keys, "can_manage": can_manage})


@roles_required(KEY_WRITERS)
@require_http_methods(["GET", "POST"])
@never_cache
def ingest_key_new(request):
    form = IngestKeyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        ok, created, status = call_service(
            form, services.ingest_key_create, actor=request.user, name=data["name"],
            all_identities=data["all_identities"], identities=_lines(data["identities"]),
            service_names=_lines(data["service_names"]), request=request,
        )  # fmt: skip
        if ok:
            key, secret = created
            return render(request, "audit_events/ingest_key_secret.html", {"key": key, "secret": secret})
        return render(request, "audit_events/ingest_key_form.html", {"form": form}, status=status)
    return render(request, "audit_events/ingest_key_form.html", {"form": form}, status=form_status(request))


@roles_required(KEY_WRITERS)
@require_http_methods(["GET", "POST"])
def ingest_key_revoke(request, uuid):
    key = get_object_or_404(IngestKey, uuid=uuid)

    def revoked(_key):
        messages.success(request, f"The ingest key “{key.name}” was revoked.")
        return redirect("ingest-keys")

    return confirm(
        request, "audit_events/ingest_key_revoke.html", {"key": key}, form_class=RevokeForm,
        service=services.ingest_key_revoke, success=revoked, key=key, actor=request.user,
    )  # fmt: skip
