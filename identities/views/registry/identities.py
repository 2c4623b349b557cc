"""Identity list, "My identities", the identity page, create and edit, and bulk transfer of ownership."""

from __future__ import annotations

import uuid
from functools import partial

from django.contrib import messages
from django.db.models import Prefetch
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from agentiam.adapters import call_service, confirm, form_status
from agentiam.permissions import SEE_EVERYTHING, Role, has_role, roles_required
from agentiam.tables import Column, Table
from identities import services
from identities.filters import IdentityFilter, search_identities
from identities.forms import BulkTransferForm, IdentityForm
from identities.models import OwnershipRole
from identities.models.registry import Identity, current_ownerships
from identities.rules import CHANGERS, READERS
from identities.views.registry.common import abilities, identity_or_404, identity_url
from identities.views.registry.reading import FLAG_LABELS, identity_page


class IdentityTable(Table):
    id = "identity-table"
    caption = "Identities"
    columns = (
        Column("name", "Identity", sort_field="name", css="wide"),
        Column("tier", "Risk"),
        Column("environment", "Environment", sort_field="environment"),
        Column("owner", "Accountable owner"),
        Column("flags", "Needs attention"),
        Column("updated", "Changed", sort_field="updated_at", descending_first=True, css="nowrap"),
    )
    default_sort = "name"
    filterset_class = IdentityFilter
    search_fields = ("name",)
    search_placeholder = "Name or identifier (SPIFFE ID, OIDC subject…)"
    row_template = "identities/registry/identity_list.html#row"
    empty_title = "No identities yet"
    empty_text = "Register an agent or a service account to start governing it."
    selectable = False

    def __init__(self, request, queryset, *, selectable: bool = False, mine: bool = False):
        if selectable:
            self.columns = (Column("select", "Select"), *self.columns)
        if mine:
            self.empty_title = "You own no identities yet"
            self.empty_text = "Register an agent: you become its accountable owner."
        self.selectable = selectable
        super().__init__(request, queryset)

    def _searched(self, queryset):
        return search_identities(queryset, self.search)


def listed(queryset):
    """What a list row shows, in one extra query per page: the accountable owner in force now."""
    accountable = current_ownerships().filter(role=OwnershipRole.ACCOUNTABLE).select_related("person")
    return queryset.prefetch_related(Prefetch("ownerships", queryset=accountable, to_attr="accountable_now"))


def _list(request, queryset, *, mine: bool):
    admin = has_role(request.user, Role.ADMINISTRATOR)
    table = IdentityTable(request, listed(queryset), selectable=admin and not mine, mine=mine)
    partial = request.htmx and not request.htmx.history_restore_request
    context = {
        "table": table,
        "mine": mine,
        "flag_labels": FLAG_LABELS,
        "can_create": has_role(request.user, *CHANGERS),
        "can_transfer": admin and not mine,
    }
    template = "identities/registry/identity_list.html#table" if partial else "identities/registry/identity_list.html"
    return render(request, template, context, status=200 if table.filters_valid else 400)


@roles_required(READERS)
@require_GET
def identity_list(request):
    return _list(request, Identity.objects.restrict(request.user, "view"), mine=False)


@roles_required(Role.IDENTITY_OWNER)
@require_GET
def identity_mine(request):
    return _list(request, Identity.objects.restrict(request.user, "view").owned_by(request.user), mine=True)


@roles_required(READERS)
@require_GET
def identity_detail(request, uuid):
    identity = identity_or_404(request, uuid)
    can = abilities(request, identity)
    context = identity_page(identity, can, Identity.objects.restrict(request.user, "view"))
    context["can_read_audit"] = has_role(request.user, *SEE_EVERYTHING)
    return render(request, "identities/registry/identity_detail.html", context)


@roles_required(CHANGERS)
@require_http_methods(["GET", "POST"])
def identity_create(request):
    admin = has_role(request.user, Role.ADMINISTRATOR)

    def registered(identity):
        messages.success(request, f"{identity.name} is registered: risk tier {identity.get_risk_tier_display()}.")
        return redirect(identity_url(identity))

    return confirm(request, "identities/registry/identity_form.html", {"creating": True, "admin": admin},
                   form_class=partial(IdentityForm, actor=request.user, admin=admin), service=services.identity_create,
                   success=registered, arguments=lambda data: {"accountable_owner": None, **data},
                   actor=request.user)  # fmt: skip


@roles_required(CHANGERS)
@require_http_methods(["GET", "POST"])
def identity_edit(request, uuid):
    identity = identity_or_404(request, uuid, "change")
    initial = {
        name: getattr(identity, name)
        for name in (
            "name",
            "description",
            "environment",
            "exposure",
            "hosting",
            "cloud_account",
            "region",
            "capabilities",
            "model_provider",
            "model_name",
            "source_repository",
            "source_commit",
            "attestation_signer",
        )
    }
    initial["allowed_image_digests"] = "\n".join(identity.allowed_image_digests)
    initial["parent"] = identity.parent.uuid if identity.parent else None
    initial["person"] = identity.person.username if identity.person else None
    form = IdentityForm(request.POST or None, initial=initial, actor=request.user, editing=identity)
    status = None
    if request.method == "POST" and form.is_valid():
        ok, updated, status = call_service(
            form,
            services.identity_update,
            identity=identity,
            actor=request.user,
            request=request,
            **form.service_fields(),
        )
        if ok:
            messages.success(request, f"{updated.name} was updated: risk tier {updated.get_risk_tier_display()}.")
            return redirect(identity_url(updated))
    context = {"form": form, "creating": False, "identity": identity}
    return render(request, "identities/registry/identity_form.html", context, status=form_status(request, status))


@roles_required(Role.ADMINISTRATOR)
@require_http_methods(["GET", "POST"])
def identity_transfer(request):
    """Make one person the accountable owner of the identities chosen on the list (GET shows the choice
    for confirmation; POST transfers them all in one transaction with one audit entry)."""
    changeable = Identity.objects.restrict(request.user, "change")
    data = request.POST if request.method == "POST" else None
    form = BulkTransferForm(data, initial={"identity": request.GET.getlist("identity")}, changeable=changeable)
    chosen_ids = request.POST.getlist("identity") if data else request.GET.getlist("identity")
    chosen = list(listed(changeable.filter(uuid__in=_uuids(chosen_ids))).order_by("name")[:500])
    status = None
    if data is not None and form.is_valid():
        ok, count, status = call_service(
            form,
            services.ownership_transfer_bulk,
            identities=list(form.cleaned_data["identity"]),
            to_person=form.cleaned_data["to_person"],
            actor=request.user,
            reason=form.cleaned_data["reason"],
            request=request,
        )
        if ok:
            person = form.cleaned_data["to_person"]
            messages.success(
                request,
                f"{count} identit{'y' if count == 1 else 'ies'} transferred to {person.get_full_name() or person}.",
            )
            return redirect(reverse("identities"))
    context = {"form": form, "chosen": chosen, "unknown": len(set(chosen_ids)) - len(chosen)}
    return render(request, "identities/registry/identity_transfer.html", context, status=form_status(request, status))


def _uuids(values) -> list[str]:
    valid = []
    for value in values:
        try:
            valid.append(str(uuid.UUID(str(value))))
        except ValueError:
            continue
    return valid
