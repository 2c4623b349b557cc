"""Runtime configuration pages: one list, one create form and one disable form per kind (gateways, trust
bundles, OIDC issuers, assertion keys, provenance rules, delegation rules). The see-everything roles read;
administrators change, through the services."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from agentiam.adapters import call_service, confirm, form_status
from agentiam.errors import Conflict
from agentiam.permissions import Role, has_role, roles_required
from agentiam.tables import Column, Table
from identities.runtime import forms, services
from identities.runtime import models as m
from identities.runtime.roles import CONFIG_READERS, CONFIG_WRITERS


def _create_gateway(actor, data, request):
    return services.gateway_create(actor=actor, request=request, **data)


def _create_trust_bundle(actor, data, request):
    return services.trust_bundle_create(actor=actor, request=request, **data)


def _create_oidc_issuer(actor, data, request):
    return services.oidc_issuer_create(actor=actor, request=request, **data)


def _create_assertion_key(actor, data, request):
    return services.assertion_key_create(actor=actor, request=request, **data)


def _create_provenance_rule(actor, data, request):
    return services.provenance_rule_create(actor=actor, request=request, **data)


def _create_delegation_rule(actor, data, request):
    return services.delegation_rule_create(
        actor=actor, actor_identity=data["actor"], subject=data["subject"], description=data["description"],
        request=request,
    )  # fmt: skip


@dataclass(frozen=True)
class Kind:
    slug: str
    title: str
    singular: str
    intro: str
    model: type
    form: type
    create: Callable
    columns: tuple[Column, ...]
    related: tuple[str, ...] = ()
    search: tuple[str, ...] = ()


CREATED = Column("created", "Created", sort_field="created_at", descending_first=True, css="nowrap")
STATE = Column("state", "State")
KINDS = {
    kind.slug: kind
    for kind in (
        Kind("gateways", "Gateways", "gateway",
             "Enforcement points: each is a service-account identity with the audiences it serves and its own "
             "credential. Only gateways ask for decisions, and only about tokens issued to their audiences.",
             m.Gateway, forms.GatewayForm, _create_gateway,
             (Column("name", "Gateway", sort_field="name"), Column("audiences", "Audiences", css="wide"), STATE,
              CREATED),
             ("identity",), ("name",)),
        Kind("trust-bundles", "Trust bundles", "trust bundle",
             "SPIFFE trust domains whose JWT-SVIDs prove what a workload is.",
             m.TrustBundle, forms.TrustBundleForm, _create_trust_bundle,
             (Column("domain", "Trust domain", sort_field="trust_domain"), Column("keys", "Keys", css="wide"), STATE,
              CREATED), (), ("trust_domain",)),
        Kind("oidc-issuers", "OIDC issuers", "OIDC issuer",
             "OpenID Connect issuers whose ID tokens are accepted as workload or delegation proofs.",
             m.OidcIssuer, forms.OidcIssuerForm, _create_oidc_issuer,
             (Column("issuer", "Issuer", sort_field="issuer"), Column("keys", "Keys", css="wide"), STATE, CREATED),
             (), ("issuer",)),
        Kind("assertion-keys", "Assertion keys", "assertion key",
             "Public keys registered on identities, for RFC 7523 client assertions (iss = sub = the identity's id).",
             m.AssertionKey, forms.AssertionKeyForm, _create_assertion_key,
             (Column("identity", "Identity"), Column("kid", "Key", sort_field="kid", css="wide"), STATE, CREATED),
             ("identity",), ("kid", "identity__name")),
        Kind("provenance-rules", "Provenance rules", "provenance rule",
             "Claims a proof must carry — an image digest, a repository — with the values allowed.",
             m.ProvenanceRule, forms.ProvenanceRuleForm, _create_provenance_rule,
             (Column("rule", "Rule", sort_field="issuer"), Column("values", "Allowed", css="wide"), STATE, CREATED),
             (), ("issuer", "claim")),
        Kind("delegation-rules", "Delegation rules", "delegation rule",
             "Who may act for whom: a token exchange with an actor token needs an enabled rule here.",
             m.DelegationRule, forms.DelegationRuleForm, _create_delegation_rule,
             (Column("actor", "Actor"), Column("subject", "On behalf of", css="wide"), STATE, CREATED),
             ("actor", "subject"), ("actor__name", "subject__name")),
    )
}  # fmt: skip


def _kind(slug: str) -> Kind:
    try:
        return KINDS[slug]
    except KeyError:
        raise Http404 from None


def _table(kind: Kind):
    return type(
        "ConfigTable",
        (Table,),
        {
            "id": f"{kind.slug}-table",
            "caption": kind.title,
            "columns": kind.columns,
            "default_sort": "-created",
            "search_fields": kind.search,
            "search_placeholder": f"Search {kind.title.lower()}",
            "row_template": f"runtime/rows/{kind.slug}.html",
            "empty_title": f"No {kind.title.lower()} yet",
            "empty_text": "Administrators add them here or through /api/v1/runtime-config/.",
        },
    )


@roles_required(CONFIG_READERS)
@require_http_methods(["GET"])
def config_list(request, kind: str):
    kind = _kind(kind)
    queryset = kind.model.objects.select_related(*kind.related, "created_by", "disabled_by")
    table = _table(kind)(request, queryset)
    context = {"kind": kind, "table": table, "can_manage": has_role(request.user, Role.ADMINISTRATOR)}
    partial = request.htmx and not request.htmx.history_restore_request
    return render(request, "runtime/config_list.html#table" if partial else "runtime/config_list.html", context)


@roles_required(CONFIG_WRITERS)
@require_http_methods(["GET", "POST"])
@never_cache
def config_create(request, kind: str):
    kind = _kind(kind)
    form = kind.form(request.POST or None)
    if request.method == "POST" and form.is_valid():
        ok, created, _status = call_service(form, kind.create, actor=request.user, data=form.cleaned_data,
                                            request=request)  # fmt: skip
        if ok:
            if isinstance(created, tuple):  # a gateway and its credential, shown in this response only
                gateway, credential = created
                return render(
                    request, "runtime/credential.html", {"kind": kind, "gateway": gateway, "secret": credential}
                )
            messages.success(request, f"The {kind.singular} was added.")
            return redirect(f"runtime:{kind.slug}")
    # A refusal of any kind shows this form again with a 400.
    return render(request, "runtime/config_form.html", {"kind": kind, "form": form}, status=form_status(request))


@roles_required(CONFIG_WRITERS)
@require_http_methods(["GET", "POST"])
def config_disable(request, kind: str, uuid):
    kind = _kind(kind)
    row = get_object_or_404(kind.model.objects.select_related(*kind.related), uuid=uuid)

    def disabled(_row):
        messages.success(request, f"The {kind.singular} “{row}” was disabled.")
        return redirect(f"runtime:{kind.slug}")

    return confirm(request, "runtime/config_disable.html", {"kind": kind, "row": row}, form_class=forms.DisableForm,
                   service=services.config_disable, success=disabled, refusal_status=400, row=row,
                   actor=request.user)  # fmt: skip


@roles_required(CONFIG_WRITERS)
@require_http_methods(["GET", "POST"])
@never_cache
def gateway_rotate(request, uuid):
    gateway = get_object_or_404(m.Gateway, uuid=uuid)
    kind = KINDS["gateways"]
    if request.method == "POST":
        try:
            gateway, credential = services.gateway_rotate_credential(
                gateway=gateway, actor=request.user, request=request
            )
        except (PermissionDenied, Conflict) as error:
            messages.error(request, str(error))
            return redirect("runtime:gateways")
        return render(request, "runtime/credential.html", {"kind": kind, "gateway": gateway, "secret": credential})
    return render(request, "runtime/gateway_rotate.html", {"kind": kind, "gateway": gateway})
