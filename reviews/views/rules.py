"""Approval rules in the browser: the rules in force (every role reads them: they say how many approvers a
request needs and how long it may last), proposing a change (an administrator, stepped up), and applying it (a
second administrator, stepped up: four eyes) or withdrawing it; the history of changes."""

from __future__ import annotations

import django_filters
from django.contrib import messages
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from agentiam.adapters import call_service, confirm, done, form_status
from agentiam.permissions import ALL_ROLES, Role, roles_of, roles_required
from agentiam.stepup import step_up_required
from agentiam.tables import Column, Table
from identities.models import RiskTier
from reviews.forms import minutes
from reviews.forms_rules import (
    ERR_NOTHING_CHANGED,
    RULE_ALIASES,
    ConfirmForm,
    ReasonForm,
    RuleForm,
    changed_fields,
    no_arguments,
    rule_initial,
)
from reviews.models import ApprovalRule, ApprovalRuleChange, ChangeKind, ChangeState
from reviews.services.rule_changes import (
    ERR_OWN_CHANGE,
    RULE_FIELDS,
    rule_change_apply,
    rule_change_propose,
    rule_change_withdraw,
)

__all__ = [
    "rule_change_apply_page",
    "rule_change_detail",
    "rule_change_withdraw_page",
    "rule_changes",
    "rule_list",
    "rule_propose_create",
    "rule_propose_disable",
    "rule_propose_edit",
    "waiting_for",
]

ADMINISTRATORS = frozenset({Role.ADMINISTRATOR})
OPEN_SHOWN = 50
LABELS = {
    "name": "Name",
    "priority": "Priority",
    "risk_tier": "Identity risk tier",
    "tool_sensitivity": "Tool sensitivity",
    "data_class": "Data class",
    "environment": "Environment",
    "action": "Action",
    "production_secrets": "Production secrets",
    "auto_approve": "Approved at once",
    "approvals_needed": "Approvers needed",
    "eligible_approvals": "Approvers when eligible",
    "max_duration_seconds": "Longest duration",
    "approver_group": "Approver group",
    "allows_break_glass": "Break-glass on production secrets",
}


def _is_admin(user) -> bool:
    return Role.ADMINISTRATOR in roles_of(user)


def waiting_for(user) -> int:
    """Open proposals another administrator made, which this one may apply (the navigation's count)."""
    return ApprovalRuleChange.objects.filter(state=ChangeState.PROPOSED).exclude(proposed_by=user).count()


# --- the rules in force ---------------------------------------------------------------------------------------


class RuleFilter(django_filters.FilterSet):
    state = django_filters.ChoiceFilter(
        choices=[("in_force", "In force"), ("disabled", "Disabled")],
        method="by_state",
        label="State",
        empty_label="Any state",
    )
    risk_tier = django_filters.ChoiceFilter(
        choices=RiskTier.choices, label="Identity risk tier", empty_label="Any tier", method="by_tier"
    )

    class Meta:
        model = ApprovalRule
        fields = ["state", "risk_tier"]

    def by_state(self, queryset, name, value):
        return queryset.filter(enabled=value == "in_force")

    def by_tier(self, queryset, name, value):
        return queryset.filter(risk_tier__in=["", value])  # a blank condition matches every tier


class RuleTable(Table):
    id = "approval-rules"
    caption = "Approval rules"
    columns = (
        Column("priority", "#", sort_field="priority", css="num nowrap"),
        Column("name", "Rule and what it applies to", css="wide"),
        Column("approvers", "Approvers"),
        Column("cap", "Longest", css="nowrap"),
        Column("actions", ""),
    )
    default_sort = "priority"
    filterset_class = RuleFilter
    search_fields = ("name",)
    search_placeholder = "Rule name"
    row_template = "reviews/rules/list.html#row"
    empty_title = "No approval rules"
    empty_text = "Without a rule every request needs one approver and lasts at most 8 hours."


def _open_changes():
    return ApprovalRuleChange.objects.filter(state=ChangeState.PROPOSED).select_related("rule", "proposed_by")


@roles_required(ALL_ROLES)
@require_GET
def rule_list(request):
    """The rules in evaluation order, each with its open proposals; the open proposals above them."""
    rules = ApprovalRule.objects.select_related("approver_group").annotate(
        open_changes=Count("changes", filter=Q(changes__state=ChangeState.PROPOSED))
    )
    table = RuleTable(request, rules)
    partial = request.htmx and not request.htmx.history_restore_request
    context = {"table": table, "can_propose": _is_admin(request.user)}
    if partial:
        return render(request, "reviews/rules/list.html#table", context, status=200 if table.filters_valid else 400)
    context["open"] = list(_open_changes().order_by("proposed_at")[:OPEN_SHOWN])
    return render(request, "reviews/rules/list.html", context, status=200 if table.filters_valid else 400)


# --- proposing --------------------------------------------------------------------------------------------------


def _rule(uuid) -> ApprovalRule:
    return get_object_or_404(ApprovalRule.objects.select_related("approver_group"), uuid=uuid)


def _proposed(request, change: ApprovalRuleChange):
    messages.success(request, "Proposed. It applies once a second administrator applies it.")
    return done(request, reverse("reviews:rule-change", args=[change.uuid]))


def _propose_page(request, *, kind: str, rule: ApprovalRule | None):
    initial = rule_initial(rule) if rule is not None else {"approvals_needed": 1, "max_duration_minutes": 60}
    form = RuleForm(request.POST or None, initial=initial)
    status = None
    if request.method == "POST" and form.is_valid():
        fields = form.rule_fields()
        if rule is not None:
            fields = changed_fields(rule, fields)
        if rule is not None and not fields:
            form.add_error(None, ERR_NOTHING_CHANGED)
            status = 400
        else:
            ok, change, status = call_service(
                form,
                rule_change_propose,
                aliases=RULE_ALIASES,
                actor=request.user,
                kind=kind,
                rule=rule,
                fields=fields,
                reason=form.cleaned_data["reason"],
                request=request,
            )
            if ok:
                return _proposed(request, change)
    context = {"form": form, "rule": rule, "kind": kind}
    return render(request, "reviews/rules/propose.html", context, status=form_status(request, status))


@roles_required(ADMINISTRATORS)
@require_http_methods(["GET", "POST"])
@step_up_required
@never_cache
def rule_propose_create(request):
    return _propose_page(request, kind=ChangeKind.CREATE, rule=None)


@roles_required(ADMINISTRATORS)
@require_http_methods(["GET", "POST"])
@step_up_required
@never_cache
def rule_propose_edit(request, uuid):
    return _propose_page(request, kind=ChangeKind.EDIT, rule=_rule(uuid))


@roles_required(ADMINISTRATORS)
@require_http_methods(["GET", "POST"])
@step_up_required
@never_cache
def rule_propose_disable(request, uuid):
    rule = _rule(uuid)
    if not rule.enabled and request.method == "GET":
        messages.info(request, "This rule is already disabled.")
        return redirect("reviews:rules")
    return confirm(
        request,
        "reviews/rules/disable.html",
        {"rule": rule},
        form_class=ReasonForm,
        service=rule_change_propose,
        success=lambda change: _proposed(request, change),
        actor=request.user,
        kind=ChangeKind.DISABLE,
        rule=rule,
    )


# --- one change: reading it, applying it, withdrawing it ------------------------------------------------------


def _change(uuid) -> ApprovalRuleChange:
    found = ApprovalRuleChange.objects.select_related("rule__approver_group", "proposed_by", "decided_by")
    return get_object_or_404(found, uuid=uuid)


def _shown(name: str, value, groups: dict) -> str:
    if value is None or value == "":
        return "any" if name in ("risk_tier", "tool_sensitivity", "data_class", "environment", "action") else "—"
    if name == "production_secrets":
        return "production-secret tools only" if value else "not production-secret tools"
    if name == "max_duration_seconds":
        return minutes(value)
    if name == "approver_group":
        return groups.get(value, f"group {value}")
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _lines(change: ApprovalRuleChange) -> list[dict]:
    """What the change does, field by field: before (the rule as it is now) and after."""
    rule = change.rule
    ids = [change.fields.get("approver_group"), rule.approver_group_id if rule else None]
    groups = dict(Group.objects.filter(pk__in=[i for i in ids if i]).values_list("pk", "name"))
    lines = []
    if change.kind == ChangeKind.DISABLE:
        return [{"label": "Enabled", "before": "yes", "after": "no", "changed": True}]
    for name in RULE_FIELDS:
        if change.kind == ChangeKind.CREATE and name not in change.fields:
            continue
        now = getattr(rule, "approver_group_id" if name == "approver_group" else name) if rule else None
        after = change.fields.get(name, now)
        lines.append(
            {
                "label": LABELS[name],
                "before": _shown(name, now, groups) if rule else "",
                "after": _shown(name, after, groups),
                "changed": rule is not None and name in change.fields,
            }
        )
    return lines


def _change_context(request, change: ApprovalRuleChange) -> dict:
    admin = _is_admin(request.user)
    own = change.proposed_by_id == request.user.pk
    return {
        "change": change,
        "lines": _lines(change),
        "open": change.state == ChangeState.PROPOSED,
        "may_apply": admin and not own and change.state == ChangeState.PROPOSED,
        "may_withdraw": admin and change.state == ChangeState.PROPOSED,
        "own": own,
        "own_reason": ERR_OWN_CHANGE,
    }


@roles_required(ALL_ROLES)
@require_GET
def rule_change_detail(request, uuid):
    change = _change(uuid)
    return render(request, "reviews/rules/change.html", _change_context(request, change))


@roles_required(ADMINISTRATORS)
@require_http_methods(["GET", "POST"])
@step_up_required
@never_cache
def rule_change_apply_page(request, uuid):
    """A second administrator applies the change, after reading it and confirming; its author gets a 403."""
    change = _change(uuid)
    if change.proposed_by_id == request.user.pk:
        raise PermissionDenied(ERR_OWN_CHANGE)
    if change.state != ChangeState.PROPOSED and request.method == "GET":
        return redirect("reviews:rule-change", uuid=change.uuid)

    def applied(rule):
        verb = {"create": "created", "edit": "changed", "disable": "disabled"}[change.kind]
        messages.success(request, f"Applied: “{rule.name}” is {verb}; the next request is decided under it.")
        return done(request, reverse("reviews:rule-change", args=[change.uuid]))

    context = _change_context(request, change)
    return confirm(
        request,
        "reviews/rules/apply.html",
        context,
        form_class=ConfirmForm,
        arguments=no_arguments,
        service=rule_change_apply,
        success=applied,
        actor=request.user,
        change=change,
    )


@roles_required(ADMINISTRATORS)
@require_http_methods(["GET", "POST"])
@never_cache
def rule_change_withdraw_page(request, uuid):
    """Any administrator withdraws an open proposal (it never changed a rule), after confirming."""
    change = _change(uuid)
    if change.state != ChangeState.PROPOSED and request.method == "GET":
        return redirect("reviews:rule-change", uuid=change.uuid)

    def withdrawn(_):
        messages.success(request, "Withdrawn: the rules stay as they are.")
        return done(request, reverse("reviews:rule-change", args=[change.uuid]))

    return confirm(
        request,
        "reviews/rules/withdraw.html",
        _change_context(request, change),
        form_class=ConfirmForm,
        arguments=no_arguments,
        service=rule_change_withdraw,
        success=withdrawn,
        actor=request.user,
        change=change,
    )


# --- the history of changes -------------------------------------------------------------------------------------


class ChangeFilter(django_filters.FilterSet):
    state = django_filters.ChoiceFilter(choices=ChangeState.choices, label="State", empty_label="Any state")
    kind = django_filters.ChoiceFilter(choices=ChangeKind.choices, label="Change", empty_label="Any change")

    class Meta:
        model = ApprovalRuleChange
        fields = ["state", "kind"]


class ChangeTable(Table):
    id = "rule-changes"
    caption = "Approval-rule changes"
    columns = (
        Column("proposed", "Proposed", sort_field="proposed_at", descending_first=True, css="nowrap"),
        Column("change", "Change", css="wide"),
        Column("by", "Proposed by"),
        Column("state", "Outcome"),
    )
    default_sort = "-proposed"
    filterset_class = ChangeFilter
    row_template = "reviews/rules/changes.html#row"
    empty_title = "No changes yet"
    empty_text = "Proposals to create, edit or disable a rule appear here with who applied or withdrew them."


@roles_required(ALL_ROLES)
@require_GET
def rule_changes(request):
    found = ApprovalRuleChange.objects.select_related("rule", "proposed_by", "decided_by")
    table = ChangeTable(request, found)
    partial = request.htmx and not request.htmx.history_restore_request
    template = "reviews/rules/changes.html#table" if partial else "reviews/rules/changes.html"
    return render(request, template, {"table": table}, status=200 if table.filters_valid else 400)
