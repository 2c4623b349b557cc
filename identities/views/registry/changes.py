"""Changes to an identity's record: acceptable use, owners, identifiers and credentials."""

from __future__ import annotations

from functools import partial

from django.contrib import messages
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from agentiam.adapters import call_service, confirm, done, form_status
from agentiam.permissions import Role, roles_required
from identities import services
from identities.forms import (
    AcceptableUseForm,
    CredentialForm,
    CredentialResolveForm,
    IdentifierForm,
    OwnershipForm,
    ReasonForm,
)
from identities.models import Credential, Entitlement, OwnershipRole, RevocationStatus
from identities.models.registry import Identity, current_ownerships
from identities.rules import CHANGERS
from identities.services import ERR_AUP_APPROVER
from identities.views.registry.common import abilities, identity_or_404, identity_url, require


def _page(request, template, identity, form, status, **extra):
    context = {"identity": identity, "form": form, "can": abilities(request, identity), **extra}
    return render(request, template, context, status=form_status(request, status))


# --- acceptable use ---------------------------------------------------------------------------------------------


@roles_required(Role.IDENTITY_OWNER)
@require_http_methods(["GET", "POST"])
def aup_create(request, uuid):
    identity = identity_or_404(request, uuid, "change")
    require(abilities(request, identity).can_add_aup, ERR_AUP_APPROVER)
    latest = identity.acceptable_uses.order_by("-version").first()
    initial = {}
    if latest is not None:  # a new version starts from the last one
        initial = {
            "purpose": latest.purpose,
            "allowed_tools": "\n".join(latest.allowed_tools),
            "data_classes": latest.data_classes,
            "prohibited_actions": latest.prohibited_actions,
            "human_in_the_loop": latest.human_in_the_loop,
        }

    def approved(record):
        messages.success(request, f"Acceptable use version {record.version} of {identity.name} is approved.")
        return done(request, identity_url(identity, "acceptable-use"))

    context = {"identity": identity, "can": abilities(request, identity), "latest": latest}
    return confirm(request, "identities/registry/aup_form.html", context,
                   form_class=partial(AcceptableUseForm, initial=initial), service=services.aup_add_version,
                   success=approved, identity=identity, actor=request.user)  # fmt: skip


# --- owners ---------------------------------------------------------------------------------------------------


@roles_required(CHANGERS)
@require_http_methods(["GET", "POST"])
def owner_assign(request, uuid):
    """Name an owner; naming a new accountable owner is a transfer (the current one's term ends now)."""
    identity = identity_or_404(request, uuid, "change")
    form = OwnershipForm(request.POST or None, initial={"role": request.GET.get("role", OwnershipRole.ACCOUNTABLE)})
    status = None
    if request.method == "POST" and form.is_valid():
        person, role = form.cleaned_data["person"], form.cleaned_data["role"]
        ok, _ownership, status = call_service(
            form,
            services.ownership_assign,
            identity=identity,
            person=person,
            role=role,
            actor=request.user,
            request=request,
        )
        if ok:
            label = OwnershipRole(role).label.lower()
            name = person.get_full_name() or person.username
            messages.success(request, f"{name} is now the {label} owner of {identity.name}.")
            still_visible = Identity.objects.restrict(request.user, "view").filter(pk=identity.pk).exists()
            return done(request, identity_url(identity, "owners") if still_visible else reverse("identities"))
    if request.htmx and request.method == "POST":  # the inline transfer form on the identity page
        context = {"identity": identity, "form": form}
        return render(
            request, "identities/registry/identity/_transfer_form.html", context, status=form_status(request, status)
        )
    current = current_ownerships().filter(identity=identity).select_related("person").order_by("role")
    return _page(request, "identities/registry/owner_form.html", identity, form, status, current=list(current))


@roles_required(CHANGERS)
@require_http_methods(["GET", "POST"])
def owner_end(request, uuid, ownership):
    identity = identity_or_404(request, uuid, "change")
    record = get_object_or_404(current_ownerships().filter(identity=identity).select_related("person"), uuid=ownership)

    def ended(_ownership):
        name = record.person.get_full_name() or record.person.username
        messages.success(request, f"{name} no longer owns {identity.name}.")
        still_visible = Identity.objects.restrict(request.user, "view").filter(pk=identity.pk).exists()
        return done(request, identity_url(identity, "owners") if still_visible else reverse("identities"))

    context = {"identity": identity, "can": abilities(request, identity), "ownership": record}
    return confirm(request, "identities/registry/owner_end.html", context, form_class=ReasonForm,
                   service=services.ownership_end, success=ended, ownership=record, actor=request.user)  # fmt: skip


# --- identifiers ------------------------------------------------------------------------------------------------


@roles_required(CHANGERS)
@require_http_methods(["GET", "POST"])
def identifier_add(request, uuid):
    identity = identity_or_404(request, uuid, "change")

    def added(identifier):
        messages.success(request, f"{identity.name} is now also known as {identifier.value}.")
        return done(request, identity_url(identity, "identifiers"))

    context = {"identity": identity, "can": abilities(request, identity)}
    return confirm(request, "identities/registry/identifier_form.html", context, form_class=IdentifierForm,
                   service=services.identifier_add, success=added, identity=identity, actor=request.user)  # fmt: skip


@roles_required(CHANGERS)
@require_http_methods(["GET", "POST"])
def identifier_remove(request, uuid, identifier):
    identity = identity_or_404(request, uuid, "change")
    record = get_object_or_404(identity.identifiers, uuid=identifier)
    if request.method == "POST":
        value = record.value
        services.identifier_remove(identifier=record, actor=request.user, request=request)
        messages.success(request, f"{value} no longer identifies {identity.name}.")
        return done(request, identity_url(identity, "identifiers"))
    return _page(request, "identities/registry/identifier_remove.html", identity, None, None, identifier=record)


# --- credentials ------------------------------------------------------------------------------------------------


def _credential(identity: Identity, uuid) -> Credential:
    return get_object_or_404(Credential.objects.filter(holders=identity), uuid=uuid)


@roles_required(CHANGERS)
@require_http_methods(["GET", "POST"])
def credential_register(request, uuid):
    identity = identity_or_404(request, uuid, "change")
    carried = Entitlement.objects.filter(identity=identity, revoked_at__isnull=True).select_related("tool")
    form = CredentialForm(request.POST or None, entitlements=carried.order_by("tool__key", "action"))
    status = None
    if request.method == "POST" and form.is_valid():
        ok, credential, status = call_service(
            form,
            services.credential_register,
            actor=request.user,
            holders=[identity],
            request=request,
            **form.service_kwargs(),
        )
        if ok:
            messages.success(request, f"Credential “{credential.name}” is registered (fingerprint only).")
            return done(request, identity_url(identity, "credentials"))
    return _page(request, "identities/registry/credential_form.html", identity, form, status)


@roles_required(CHANGERS)
@require_http_methods(["GET", "POST"])
def credential_revocation(request, uuid, credential):
    """Ask for a credential's revocation: it counts as revoked only once the holder confirms."""
    identity = identity_or_404(request, uuid, "change")
    record = _credential(identity, credential)

    def requested(_credential):
        messages.success(request, f"Revocation of “{record.name}” is requested. Confirm it once it is done.")
        return done(request, identity_url(identity, "credentials"))

    context = {"identity": identity, "can": abilities(request, identity), "credential": record}
    return confirm(request, "identities/registry/credential_revoke.html", context, form_class=ReasonForm,
                   service=services.credential_request_revocation, success=requested, credential=record,
                   actor=request.user)  # fmt: skip


@roles_required(CHANGERS)
@require_http_methods(["GET", "POST"])
def credential_resolve(request, uuid, credential):
    identity = identity_or_404(request, uuid, "change")
    record = _credential(identity, credential)
    form = CredentialResolveForm(request.POST or None)
    status = None
    if request.method == "POST" and form.is_valid():
        confirmed = form.cleaned_data["outcome"] == RevocationStatus.CONFIRMED
        ok, _record, status = call_service(
            form,
            services.credential_resolve_revocation,
            credential=record,
            actor=request.user,
            confirmed=confirmed,
            note=form.cleaned_data["note"],
            request=request,
        )
        if ok:
            outcome = "confirmed as revoked" if confirmed else "marked as failed: it may still work"
            messages.success(request, f"“{record.name}” {outcome}.")
            return done(request, identity_url(identity, "credentials"))
    return _page(request, "identities/registry/credential_resolve.html", identity, form, status, credential=record)
