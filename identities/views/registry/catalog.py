"""Systems and the tools they offer: everyone with a role reads the catalogue (owners pick tools from it);
administrators add to it. A tool's page lists who holds access to it — only the holders the reader may see."""

from __future__ import annotations

from functools import partial

from django.contrib import messages
from django.db.models import Count, OuterRef, Q, Subquery
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from agentiam.adapters import confirm
from agentiam.permissions import Role, has_role, roles_required
from agentiam.tables import Column, Table
from identities import services
from identities.filters import EntitlementStateFilter, SystemFilter, ToolFilter
from identities.forms import SystemForm, ToolForm
from identities.models import Entitlement, System, Tool
from identities.models.registry import Identity
from identities.rules import READERS


def _partial(request) -> bool:
    return bool(request.htmx and not request.htmx.history_restore_request)


def active_holders():
    """Active entitlements per tool, counted beside each row (one correlated count per listed tool)."""
    counted = (
        Entitlement.objects.filter(tool=OuterRef("pk"), revoked_at__isnull=True)
        .order_by()
        .values("tool")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Subquery(counted[:1])


class SystemTable(Table):
    id = "system-table"
    caption = "Systems"
    columns = (
        Column("name", "System", sort_field="name", css="wide"),
        Column("kind", "Kind", sort_field="kind"),
        Column("vendor", "Vendor", sort_field="vendor"),
        Column("tools", "Tools", css="num"),
        Column("created", "Added", sort_field="created_at", descending_first=True, css="nowrap"),
    )
    default_sort = "name"
    filterset_class = SystemFilter
    search_fields = ("name", "vendor")
    search_placeholder = "System name or vendor"
    row_template = "identities/registry/system_list.html#row"
    empty_title = "No systems yet"
    empty_text = "A system (an MCP server, a SaaS, a database, a cloud account) offers the tools agents call."


class ToolTable(Table):
    id = "tool-table"
    caption = "Tools"
    columns = (
        Column("key", "Tool", sort_field="key", css="wide"),
        Column("system", "System"),
        Column("actions", "Actions"),
        Column("sensitivity", "Sensitivity", sort_field="sensitivity"),
        Column("data", "Data class", sort_field="data_class"),
        Column("flags", "Flags"),
        Column("holders", "Active grants", css="num"),
    )
    default_sort = "key"
    filterset_class = ToolFilter
    search_fields = ("key", "name")
    search_placeholder = "Tool key or name"
    row_template = "identities/registry/tool_list.html#row"
    empty_title = "No tools yet"
    empty_text = "Add a system first, then the tools it offers."


class SystemToolTable(ToolTable):
    filterset_class = None
    columns = tuple(column for column in ToolTable.columns if column.key != "system")


class HolderTable(Table):
    id = "holder-table"
    caption = "Who holds access"
    columns = (
        Column("identity", "Identity", css="wide"),
        Column("action", "Action", sort_field="action"),
        Column("scope", "Scope"),
        Column("mode", "Mode", sort_field="mode"),
        Column("granted", "Granted", sort_field="granted_at", descending_first=True, css="nowrap"),
        Column("state", "State"),
    )
    default_sort = "-granted"
    filterset_class = EntitlementStateFilter
    search_fields = ("identity__name",)
    search_placeholder = "Identity name"
    row_template = "identities/registry/tool_detail.html#row"
    empty_title = "Nobody holds access to this tool"
    empty_text = "Entitlements granted to identities you may see appear here."


@roles_required(READERS)
@require_GET
def system_list(request):
    table = SystemTable(request, System.objects.annotate(tool_count=Count("tools")))
    context = {"table": table, "can_manage": has_role(request.user, Role.ADMINISTRATOR)}
    template = (
        "identities/registry/system_list.html#table" if _partial(request) else "identities/registry/system_list.html"
    )
    return render(request, template, context, status=200 if table.filters_valid else 400)


@roles_required(READERS)
@require_GET
def system_detail(request, uuid):
    system = get_object_or_404(System, uuid=uuid)
    tools = Tool.objects.filter(system=system).select_related("system").annotate(holders=active_holders())
    table = SystemToolTable(request, tools)
    context = {"system": system, "table": table, "can_manage": has_role(request.user, Role.ADMINISTRATOR)}
    template = (
        "identities/registry/system_detail.html#table"
        if _partial(request)
        else "identities/registry/system_detail.html"
    )
    return render(request, template, context)


@roles_required(Role.ADMINISTRATOR)
@require_http_methods(["GET", "POST"])
def system_create(request):
    def added(system):
        messages.success(request, f"{system.name} was added. Add the tools it offers.")
        return redirect("system", uuid=system.uuid)

    return confirm(request, "identities/registry/system_form.html", {}, form_class=SystemForm,
                   service=services.system_create, success=added, actor=request.user)  # fmt: skip


@roles_required(READERS)
@require_GET
def tool_list(request):
    tools = Tool.objects.select_related("system").annotate(holders=active_holders())
    table = ToolTable(request, tools)
    context = {"table": table, "can_manage": has_role(request.user, Role.ADMINISTRATOR)}
    template = "identities/registry/tool_list.html#table" if _partial(request) else "identities/registry/tool_list.html"
    return render(request, template, context, status=200 if table.filters_valid else 400)


@roles_required(READERS)
@require_GET
def tool_detail(request, uuid):
    tool = get_object_or_404(Tool.objects.select_related("system"), uuid=uuid)
    visible = Identity.objects.restrict(request.user, "view")
    holders = (
        Entitlement.objects.filter(tool=tool, identity__in=visible)
        .select_related("identity", "granted_by")
        .prefetch_related("exceptions")
    )
    table = HolderTable(request, holders)
    counts = Entitlement.objects.filter(tool=tool, revoked_at__isnull=True).aggregate(
        standing=Count("pk", filter=Q(mode="standing")), jit=Count("pk", filter=Q(mode="jit"))
    )
    context = {
        "tool": tool,
        "table": table,
        "counts": counts,
        "now": timezone.now(),
        "can_manage": has_role(request.user, Role.ADMINISTRATOR),
    }
    template = (
        "identities/registry/tool_detail.html#table" if _partial(request) else "identities/registry/tool_detail.html"
    )
    return render(request, template, context, status=200 if table.filters_valid else 400)


@roles_required(Role.ADMINISTRATOR)
@require_http_methods(["GET", "POST"])
def tool_create(request, uuid):
    system = get_object_or_404(System, uuid=uuid)

    def added(tool):
        messages.success(request, f"{tool.key} was added to {system.name}.")
        return redirect("tool", uuid=tool.uuid)

    return confirm(request, "identities/registry/tool_form.html", {"system": system, "creating": True},
                   form_class=ToolForm, service=services.tool_create, success=added, actor=request.user,
                   system=system)  # fmt: skip


@roles_required(Role.ADMINISTRATOR)
@require_http_methods(["GET", "POST"])
def tool_edit(request, uuid):
    tool = get_object_or_404(Tool.objects.select_related("system"), uuid=uuid)
    fields = ("name", "description", "actions", "sensitivity", "data_class", "production", "production_secrets")
    initial = {name: getattr(tool, name) for name in (*fields, "third_party")}

    def updated(tool):
        messages.success(request, f"{tool.key} was updated. Risk tiers of identities holding it were recomputed.")
        return redirect("tool", uuid=tool.uuid)

    context = {"tool": tool, "system": tool.system, "creating": False}
    return confirm(request, "identities/registry/tool_form.html", context,
                   form_class=partial(ToolForm, initial=initial, editing=True), service=services.tool_update,
                   success=updated, tool=tool, actor=request.user)  # fmt: skip
