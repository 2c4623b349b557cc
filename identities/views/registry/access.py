"""Access on an identity: grant, revoke (inline), replace a scope, accept an exception, override the tier."""

from __future__ import annotations

from functools import partial

from django.contrib import messages
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from agentiam.adapters import call_service, confirm, done, form_status
from agentiam.permissions import Role, roles_required
from identities import services
from identities.forms import (
    SCOPE_ALIASES,
    EntitlementGrantForm,
    EntitlementReplaceForm,
    ExceptionForm,
    ReasonForm,
    TierOverrideForm,
)
from identities.models import Action, Entitlement, EntitlementMode, Tool
from identities.rules import CHANGERS, Right
from identities.runtime.services import ending
from identities.services import ERR_ADMIN_OWNS, ERR_EXCEPTION_NOT_NEEDED, ERR_NOT_OWNER, ERR_PRIVILEGED_NEEDS_ADMIN
from identities.views.registry.common import abilities, identity_or_404, identity_url, require
from identities.views.registry.reading import exception_state

ERR_NO_OVERRIDE = "This identity's tier is not overridden."
ERR_ONLY_STANDING = "Only standing entitlements are replaced here; JIT access ends with its grant."


def _entitlement(identity, uuid) -> Entitlement:
    queryset = Entitlement.objects.filter(identity=identity).select_related(
        "tool", "tool__system", "granted_by", "revoked_by", "grant"
    )
    return get_object_or_404(queryset.prefetch_related("exceptions"), uuid=uuid)


def _wants_exception(form) -> bool:
    """Show the exception fields once the service asked for them, or when the person already filled them."""
    return (
        "exception_reason" in form.errors
        or "exception_until" in form.errors
        or bool(form.data.get("exception_reason") or form.data.get("exception_until"))
    )


@roles_required(CHANGERS)
@require_http_methods(["GET", "POST"])
def entitlement_grant(request, uuid):
    identity = identity_or_404(request, uuid, "change")
    can = abilities(request, identity)
    require(can.can_change, ERR_NOT_OWNER)
    tools = Tool.objects.select_related("system").order_by("key")
    form = EntitlementGrantForm(
        request.POST or None,
        tools=tools,
        actions=can.grantable_actions,
        initial={"tool": request.GET.get("tool"), "action": request.GET.get("action", Action.READ)},
    )
    status = None
    if request.method == "POST" and form.is_valid():
        ok, entitlement, status = call_service(
            form,
            services.entitlement_grant,
            aliases=SCOPE_ALIASES,
            identity=identity,
            actor=request.user,
            request=request,
            **form.service_kwargs(),
        )
        if ok:
            note = " with an exception" if entitlement.exceptions.exists() else ""
            messages.success(
                request, f"Standing {entitlement.action} on {entitlement.tool.key} granted to {identity.name}{note}."
            )
            return done(request, identity_url(identity, "entitlements"))
    context = {
        "identity": identity,
        "form": form,
        "can": can,
        "show_exception": can.can_accept_risk and _wants_exception(form),
    }
    return render(request, "identities/registry/entitlement_grant.html", context, status=form_status(request, status))


@roles_required(CHANGERS)
@require_http_methods(["GET", "POST"])
def entitlement_revoke(request, uuid, entitlement):
    """Revoke with a reason. From the identity page this runs inline (htmx): the row is swapped for the
    revoked one, or shown again with the error."""
    identity = identity_or_404(request, uuid, "change")
    record = _entitlement(identity, entitlement)
    can = abilities(request, identity)
    form = ReasonForm(request.POST or None)
    status = None
    if request.method == "POST" and form.is_valid():
        ok, revoked, status = call_service(
            form,
            ending.entitlement_revoke,
            entitlement=record,
            actor=request.user,
            reason=form.cleaned_data["reason"],
            request=request,
        )
        if ok:
            messages.success(request, f"{revoked.tool.key} {revoked.action} revoked from {identity.name}.")
            if not request.htmx:
                return done(request, identity_url(identity, "entitlements"))
            record = _entitlement(identity, entitlement)
            form = None
    if request.htmx and request.method == "POST":
        record.exception_state = exception_state(record, identity.risk_tier, timezone.now())
        context = {"e": record, "identity": identity, "can": can, "row_form": form}
        return render(
            request, "identities/registry/_entitlement_row.html", context, status=form_status(request, status)
        )
    context = {"identity": identity, "entitlement": record, "form": form, "can": can}
    return render(request, "identities/registry/entitlement_revoke.html", context, status=form_status(request, status))


@roles_required(CHANGERS)
@require_http_methods(["GET", "POST"])
def entitlement_replace(request, uuid, entitlement):
    """Change a scope (or expiry) the only way there is: revoke and grant anew, in one transaction."""
    identity = identity_or_404(request, uuid, "change")
    record = _entitlement(identity, entitlement)
    can = abilities(request, identity)
    require(record.mode == EntitlementMode.STANDING, ERR_ONLY_STANDING)
    right = Right.GRANT_READ if record.action == Action.READ else Right.GRANT_PRIVILEGED
    require(can.may(right), ERR_PRIVILEGED_NEEDS_ADMIN)
    form = EntitlementReplaceForm(request.POST or None, scope=record.scope, initial={"expires_at": record.expires_at})
    status = None
    if request.method == "POST" and form.is_valid() and record.revoked_at is None:
        data = form.cleaned_data
        ok, new, status = call_service(
            form,
            ending.entitlement_replace,
            aliases=SCOPE_ALIASES,
            entitlement=record,
            actor=request.user,
            scope=data["scope"],
            expires_at=data.get("expires_at"),
            reason=data["reason"],
            request=request,
            exception_reason=data.get("exception_reason") or "",
            exception_until=data.get("exception_until"),
        )
        if ok:
            done_text = f"{new.tool.key} {new.action} re-granted with the new scope; the old one is revoked."
            messages.success(request, done_text)
            return done(request, identity_url(identity, "entitlements"))
    context = {
        "identity": identity,
        "entitlement": record,
        "form": form,
        "can": can,
        "show_exception": can.can_accept_risk and (_wants_exception(form) or record.action in ("write", "admin")),
    }
    return render(request, "identities/registry/entitlement_replace.html", context, status=form_status(request, status))


@roles_required(Role.ADMINISTRATOR)
@require_http_methods(["GET", "POST"])
def exception_accept(request, uuid, entitlement):
    identity = identity_or_404(request, uuid, "change")
    record = _entitlement(identity, entitlement)
    can = abilities(request, identity)
    require(can.can_accept_risk, ERR_ADMIN_OWNS)
    privileged = record.mode == EntitlementMode.STANDING and record.action in (Action.WRITE, Action.ADMIN)
    require(privileged, ERR_EXCEPTION_NOT_NEEDED)

    def accepted(exception):
        messages.success(
            request, f"Risk accepted for {record.tool.key} {record.action} until {exception.valid_until:%d %b %Y}."
        )
        return done(request, identity_url(identity, "entitlements"))

    context = {"identity": identity, "entitlement": record, "can": can}
    return confirm(request, "identities/registry/exception_form.html", context, form_class=ExceptionForm,
                   service=services.exception_accept, success=accepted, aliases={"exception_until": "valid_until"},
                   entitlement=record, actor=request.user)  # fmt: skip


@roles_required(Role.ADMINISTRATOR)
@require_http_methods(["GET", "POST"])
def tier_override(request, uuid):
    identity = identity_or_404(request, uuid, "change")
    can = abilities(request, identity)
    require(can.can_override, ERR_ADMIN_OWNS)

    def overridden(changed):
        messages.success(
            request,
            f"{identity.name} is now {changed.get_risk_tier_display().lower()} risk "
            f"(derived: {changed.get_derived_tier_display().lower()}).",
        )
        return done(request, identity_url(identity, "risk"))

    form_class = partial(TierOverrideForm, initial={"tier": identity.tier_override or None})
    return confirm(request, "identities/registry/tier_override.html", {"identity": identity, "can": can},
                   form_class=form_class, service=services.tier_override_set, success=overridden, identity=identity,
                   actor=request.user)  # fmt: skip


@roles_required(Role.ADMINISTRATOR)
@require_http_methods(["GET", "POST"])
def tier_clear(request, uuid):
    identity = identity_or_404(request, uuid, "change")
    can = abilities(request, identity)
    require(can.can_override, ERR_ADMIN_OWNS)
    require(bool(identity.tier_override), ERR_NO_OVERRIDE)

    def cleared(changed):
        messages.success(request, f"Override cleared: {identity.name} is {changed.get_risk_tier_display().lower()}.")
        return done(request, identity_url(identity, "risk"))

    return confirm(request, "identities/registry/tier_clear.html", {"identity": identity, "can": can},
                   form_class=ReasonForm, service=services.tier_override_clear, success=cleared, identity=identity,
                   actor=request.user)  # fmt: skip
