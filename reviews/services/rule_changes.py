"""Approval rules are data, changed by administrators with four eyes, as policy activation is: one administrator
proposes a change (create, edit or disable a rule), a second one — never its author — applies it. Step-up is
the view's (agentiam.stepup) for both; the database refuses an author applying their own change
(reviews_rulechange_four_eyes). Delegations while away are here too: an approver names a delegate for a
period and may revoke it; administrators may do it for any approver. An approver is a person who may hold
approvals: the manager role, or membership of a group some approval rule names (`is_approver`)."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from agentiam.errors import Conflict, PermissionDenied, invalid
from agentiam.permissions import Role, roles_of
from audit.trail import audit_record
from reviews.models import (
    AUTO_APPROVE_MAX_SECONDS,
    ApprovalRule,
    ApprovalRuleChange,
    ChangeKind,
    ChangeState,
    Delegation,
)

__all__ = [
    "ERR_ADMIN_ONLY",
    "ERR_DELEGATE_FOR",
    "ERR_DELEGATE_NOT_APPROVER",
    "ERR_DELEGATE_SELF",
    "ERR_NOT_APPROVER",
    "ERR_NOT_PROPOSED",
    "ERR_OWN_CHANGE",
    "RULE_FIELDS",
    "delegation_create",
    "delegation_revoke",
    "is_approver",
    "rule_change_apply",
    "rule_change_propose",
    "rule_change_withdraw",
]

ERR_ADMIN_ONLY = "Only an administrator may change approval rules."
ERR_OWN_CHANGE = "Nobody applies an approval-rule change they proposed: a second administrator must apply it."
ERR_NOT_PROPOSED = "This change is {state}, no longer open."
ERR_REASON = "Say why, in at most 2000 characters."
ERR_KIND = "Choose create, edit or disable."
ERR_RULE = "Name the rule to change."
ERR_UNKNOWN_FIELD = "Not a field of an approval rule: {name}."
ERR_DISABLED = "This rule is already disabled."
ERR_AUTO_APPROVERS = "An auto-approved rule needs no approvers: set 0."
ERR_APPROVERS = "Between 1 and 5 approvers (0 only for an auto-approved rule)."
ERR_AUTO_LONG = f"An auto-approval lasts at most {AUTO_APPROVE_MAX_SECONDS // 60} minutes."
ERR_ELIGIBLE = "At least 1, and no more than the approvals needed."
ERR_DURATION = "A positive number of seconds."
ERR_DELEGATE_SELF = "Name someone else as your delegate."
ERR_DELEGATE_FOR = "Only administrators name or revoke delegates for someone else."
ERR_NOT_APPROVER = "Only approvers (the manager role, or a member of an approval rule's approver group) delegate."
ERR_DELEGATE_NOT_APPROVER = (
    "Name an active approver: someone with the manager role or in an approval rule's approver group."
)
ERR_PERIOD = "The period ends after it starts, and not in the past."
ERR_REVOKED = "This delegation is already revoked."
ERR_OVER = "This delegation is already over."

# What a proposal may set (the rest of an ApprovalRule is bookkeeping).
RULE_FIELDS = (
    "name", "priority", "risk_tier", "tool_sensitivity", "data_class", "environment", "action",
    "production_secrets", "auto_approve", "approvals_needed", "eligible_approvals", "max_duration_seconds",
    "approver_group", "allows_break_glass",
)  # fmt: skip


def is_approver(person) -> bool:
    """May `person` ever hold an approval: the manager role, or a member of a group an approval rule names."""
    if person is None or not person.is_active:
        return False
    if Role.MANAGER in roles_of(person):
        return True
    return person.groups.filter(approval_rules__isnull=False).exists()


def _require_admin(actor) -> None:
    if Role.ADMINISTRATOR not in roles_of(actor):
        raise PermissionDenied(ERR_ADMIN_ONLY)


def _reason(reason) -> str:
    if not isinstance(reason, str) or not reason.strip() or len(reason) > 2000 or "\x00" in reason:
        raise invalid("reason", ERR_REASON)
    return reason.strip()


def _checked_rule(base: ApprovalRule, fields: dict) -> ApprovalRule:
    """`base` with `fields` applied, validated as the database would (types, choices, uniques, CHECKs)."""
    if not isinstance(fields, dict):
        raise invalid("fields", ERR_UNKNOWN_FIELD.format(name="(not an object)"))
    for name in fields:
        if name not in RULE_FIELDS:
            raise invalid(name if isinstance(name, str) else "fields", ERR_UNKNOWN_FIELD.format(name=str(name)[:50]))
    for name, value in fields.items():
        setattr(base, "approver_group_id" if name == "approver_group" else name, value)
    base.clean_fields(exclude=["created_at"])  # types and choices first, each field named
    _named_checks(base)
    base.full_clean(exclude=["created_at"])  # then uniques and the CHECKs as the database has them
    return base


def _named_checks(rule: ApprovalRule) -> None:
    """The rule's CHECKs, each refused with the field it is about (full_clean would name none of them)."""
    if rule.auto_approve:
        if rule.approvals_needed != 0:
            raise invalid("approvals_needed", ERR_AUTO_APPROVERS)
        if rule.max_duration_seconds > AUTO_APPROVE_MAX_SECONDS:
            raise invalid("max_duration_seconds", ERR_AUTO_LONG)
    elif not 1 <= rule.approvals_needed <= 5:
        raise invalid("approvals_needed", ERR_APPROVERS)
    if rule.eligible_approvals is not None and not 1 <= rule.eligible_approvals <= rule.approvals_needed:
        raise invalid("eligible_approvals", ERR_ELIGIBLE)
    if rule.max_duration_seconds <= 0:
        raise invalid("max_duration_seconds", ERR_DURATION)


def _serial(fields: dict) -> dict:
    return {k: v for k, v in fields.items() if k in RULE_FIELDS}


@transaction.atomic
def rule_change_propose(
    *, actor, kind: str, reason: str, rule: ApprovalRule | None = None, fields: dict | None = None, request=None
) -> ApprovalRuleChange:
    _require_admin(actor)
    if kind not in ChangeKind.values:
        raise invalid("kind", ERR_KIND)
    reason = _reason(reason)
    fields = dict(fields or {})
    if kind == ChangeKind.CREATE:
        rule = None
        _checked_rule(ApprovalRule(), fields)
    else:
        if rule is None:
            raise invalid("rule", ERR_RULE)
        if kind == ChangeKind.DISABLE:
            if not rule.enabled:
                raise Conflict(ERR_DISABLED)
            fields = {}
        else:
            _checked_rule(ApprovalRule.objects.get(pk=rule.pk), fields)
    change = ApprovalRuleChange.objects.create(
        kind=kind, rule=rule, fields=_serial(fields), reason=reason, proposed_by=actor
    )
    audit_record(actor=actor, action="approval_rule.propose", target=change, request=request,
                 object_label=f"{kind} {rule.name if rule else fields.get('name', '')}"[:200],
                 changes={"kind": kind, "rule": rule.name if rule else None, "fields": change.fields,
                          "reason": reason})  # fmt: skip
    return change


@transaction.atomic
def rule_change_apply(*, actor, change: ApprovalRuleChange, request=None) -> ApprovalRule:
    """A second administrator applies the change; validated again against the rules as they are now."""
    _require_admin(actor)
    change = ApprovalRuleChange.objects.select_for_update().get(pk=change.pk)
    if change.state != ChangeState.PROPOSED:
        raise Conflict(ERR_NOT_PROPOSED.format(state=change.state))
    if change.proposed_by_id == actor.pk:
        raise PermissionDenied(ERR_OWN_CHANGE)
    if change.kind == ChangeKind.CREATE:
        rule = _checked_rule(ApprovalRule(), change.fields)
    else:
        rule = ApprovalRule.objects.select_for_update().get(pk=change.rule_id)
        before = {name: getattr(rule, "approver_group_id" if name == "approver_group" else name)
                  for name in RULE_FIELDS}  # fmt: skip
        if change.kind == ChangeKind.DISABLE:
            rule.enabled = False
        else:
            rule = _checked_rule(rule, change.fields)
    rule.save()
    change.state, change.decided_by, change.decided_at = ChangeState.APPLIED, actor, timezone.now()
    change.save(update_fields=["state", "decided_by", "decided_at"])
    audit_record(actor=actor, action=f"approval_rule.{change.kind}", target=rule, request=request,
                 changes={"change": str(change.uuid), "proposed_by": change.proposed_by.get_username(),
                          "fields": change.fields,
                          **({"before": before} if change.kind != ChangeKind.CREATE else {})})  # fmt: skip
    return rule


@transaction.atomic
def rule_change_withdraw(*, actor, change: ApprovalRuleChange, request=None) -> ApprovalRuleChange:
    """Any administrator may withdraw an open proposal (withdrawing never changes a rule)."""
    _require_admin(actor)
    change = ApprovalRuleChange.objects.select_for_update().get(pk=change.pk)
    if change.state != ChangeState.PROPOSED:
        raise Conflict(ERR_NOT_PROPOSED.format(state=change.state))
    change.state, change.decided_at = ChangeState.WITHDRAWN, timezone.now()
    change.save(update_fields=["state", "decided_at"])
    audit_record(actor=actor, action="approval_rule.withdraw", target=change, request=request, changes={})
    return change


def _moment(value, field: str) -> datetime:
    moment = parse_datetime(value) if isinstance(value, str) else value
    if not isinstance(moment, datetime):
        raise invalid(field, ERR_PERIOD)
    return moment if timezone.is_aware(moment) else timezone.make_aware(moment)


@transaction.atomic
def delegation_create(
    *, actor, delegate, starts_at, ends_at, approver=None, reason: str = "", request=None
) -> Delegation:
    """`approver` (the actor by default) hands their approvals to `delegate` for the period. Whether the
    delegate may decide a given request is checked at decision time (reviews.rules.route skips them if not)."""
    approver = approver or actor
    if approver.pk != actor.pk:
        if Role.ADMINISTRATOR not in roles_of(actor):
            raise PermissionDenied(ERR_DELEGATE_FOR)
        if not is_approver(approver):
            raise invalid("approver", ERR_NOT_APPROVER)
    elif not is_approver(actor):
        raise PermissionDenied(ERR_NOT_APPROVER)
    if delegate is None:
        raise invalid("delegate", "Name a delegate.")
    if delegate.pk == approver.pk:
        raise invalid("delegate", ERR_DELEGATE_SELF)
    if not is_approver(delegate):
        raise invalid("delegate", ERR_DELEGATE_NOT_APPROVER)
    starts, ends = _moment(starts_at, "starts_at"), _moment(ends_at, "ends_at")
    if ends <= starts or ends <= timezone.now():
        raise invalid("ends_at", ERR_PERIOD)
    if not isinstance(reason, str) or len(reason) > 2000 or "\x00" in reason:
        raise invalid("reason", ERR_REASON)
    row = Delegation.objects.create(approver=approver, delegate=delegate, starts_at=starts, ends_at=ends,
                                    reason=reason.strip())  # fmt: skip
    audit_record(actor=actor, action="delegation.create", target=row, request=request,
                 object_label=f"{approver.get_username()} → {delegate.get_username()}",
                 changes={"approver": approver.get_username(), "delegate": delegate.get_username(),
                          "starts_at": starts, "ends_at": ends})  # fmt: skip
    return row


@transaction.atomic
def delegation_revoke(*, actor, delegation: Delegation, request=None) -> Delegation:
    row = Delegation.objects.select_for_update().get(pk=delegation.pk)
    if row.approver_id != actor.pk and Role.ADMINISTRATOR not in roles_of(actor):
        raise PermissionDenied(ERR_DELEGATE_FOR)
    if row.revoked_at is not None:
        raise Conflict(ERR_REVOKED)
    if row.ends_at <= timezone.now():
        raise Conflict(ERR_OVER)
    row.revoked_at = timezone.now()
    row.save(update_fields=["revoked_at"])
    audit_record(actor=actor, action="delegation.revoke", target=row, request=request, changes={})
    return row
