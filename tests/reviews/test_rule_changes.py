"""Approval rules change with four eyes: one administrator proposes, a second applies (never the author, and
the database refuses the author too); bad input names the field and writes nothing. Delegations while away:
the approver names a delegate for a period and revokes it, audited."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import DatabaseError, IntegrityError, transaction
from django.utils import timezone

from agentiam.errors import Conflict, PermissionDenied
from agentiam.permissions import Role
from audit.models import AuditEntry
from reviews.models import ApprovalRule, ApprovalRuleChange, Delegation
from reviews.services.rule_changes import (
    delegation_create,
    delegation_revoke,
    rule_change_apply,
    rule_change_propose,
    rule_change_withdraw,
)
from tests.cast import make_person
from tests.factories import ApprovalRuleChangeFactory

pytestmark = pytest.mark.django_db

NEW = {"name": "Prod write: two approvers", "priority": 15, "environment": "prod", "action": "write",
       "approvals_needed": 2, "max_duration_seconds": 1800}  # fmt: skip


@pytest.fixture
def second_admin(db):
    return make_person("second-admin", Role.ADMINISTRATOR)


def test_a_rule_created_by_one_administrator_applies_only_when_a_second_applies_it(estate, second_admin):
    author = estate.cast.administrator
    change = rule_change_propose(actor=author, kind="create", fields=NEW, reason="prod writes are risky")
    assert not ApprovalRule.objects.filter(name=NEW["name"]).exists()
    with pytest.raises(PermissionDenied, match="second administrator"):
        rule_change_apply(actor=author, change=change)
    rule = rule_change_apply(actor=second_admin, change=change)
    assert rule.approvals_needed == 2 and rule.environment == "prod"
    change.refresh_from_db()
    assert change.state == "applied" and change.decided_by == second_admin
    assert AuditEntry.objects.filter(action="approval_rule.create", actor_id=second_admin.pk).exists()
    with pytest.raises(Conflict):
        rule_change_apply(actor=second_admin, change=change)


def test_editing_and_disabling_a_seeded_rule(estate, second_admin):
    rule = ApprovalRule.objects.get(name="High identity: one approver")
    edit = rule_change_propose(actor=estate.cast.administrator, kind="edit", rule=rule,
                               fields={"max_duration_seconds": 7200}, reason="shorter")  # fmt: skip
    rule_change_apply(actor=second_admin, change=edit)
    rule.refresh_from_db()
    assert rule.max_duration_seconds == 7200
    entry = AuditEntry.objects.get(action="approval_rule.edit")
    assert entry.changes["before"]["max_duration_seconds"] == 4 * 3600
    off = rule_change_propose(actor=second_admin, kind="disable", rule=rule, reason="replaced")
    rule_change_apply(actor=estate.cast.administrator, change=off)
    rule.refresh_from_db()
    assert not rule.enabled


def test_only_administrators_propose_or_apply(estate, second_admin):
    change = rule_change_propose(actor=second_admin, kind="create", fields=NEW, reason="x")
    for person in (estate.cast.manager, estate.cast.compliance_officer, estate.cast.security_analyst):
        with pytest.raises(PermissionDenied):
            rule_change_propose(actor=person, kind="create", fields=NEW, reason="x")
        with pytest.raises(PermissionDenied):
            rule_change_apply(actor=person, change=change)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({**NEW, "approvals_needed": 9}, "approvals_needed"),
        ({**NEW, "priority": 10}, "priority"),  # taken by a seeded rule
        ({**NEW, "risk_tier": "extreme"}, "risk_tier"),
        ({**NEW, "max_duration_seconds": 0}, "max_duration_seconds"),
        ({**NEW, "eligible_approvals": 3}, "eligible_approvals"),
        ({**NEW, "colour": "red"}, "colour"),
        ({**NEW, "name": ""}, "name"),
        ({**NEW, "auto_approve": True, "approvals_needed": 0, "max_duration_seconds": 7200}, "max_duration_seconds"),
        ({**NEW, "auto_approve": True}, "approvals_needed"),
    ],
)
def test_bad_input_names_the_field_and_writes_nothing(estate, fields, field):
    with pytest.raises(ValidationError) as raised:
        rule_change_propose(actor=estate.cast.administrator, kind="create", fields=fields, reason="x")
    assert field in raised.value.message_dict
    assert not ApprovalRuleChange.objects.exists()


def test_a_proposal_needs_a_reason_and_an_edit_names_its_rule(estate):
    with pytest.raises(ValidationError) as raised:
        rule_change_propose(actor=estate.cast.administrator, kind="create", fields=NEW, reason=" ")
    assert "reason" in raised.value.message_dict
    with pytest.raises(ValidationError) as raised:
        rule_change_propose(actor=estate.cast.administrator, kind="edit", fields={}, reason="x")
    assert "rule" in raised.value.message_dict
    with pytest.raises(ValidationError) as raised:
        rule_change_propose(actor=estate.cast.administrator, kind="rename", reason="x")
    assert "kind" in raised.value.message_dict


def test_a_withdrawn_proposal_is_final(estate, second_admin):
    change = rule_change_propose(actor=estate.cast.administrator, kind="create", fields=NEW, reason="x")
    rule_change_withdraw(actor=estate.cast.administrator, change=change)
    with pytest.raises(Conflict):
        rule_change_apply(actor=second_admin, change=change)


def test_the_database_refuses_the_author_applying_their_own_change_and_any_change_once_closed():
    change = ApprovalRuleChangeFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        ApprovalRuleChange.objects.filter(pk=change.pk).update(state="applied", decided_by=change.proposed_by)
    with pytest.raises(IntegrityError), transaction.atomic():
        ApprovalRuleChange.objects.filter(pk=change.pk).update(state="applied")
    ApprovalRuleChange.objects.filter(pk=change.pk).update(state="withdrawn")
    with pytest.raises(DatabaseError), transaction.atomic():
        ApprovalRuleChange.objects.filter(pk=change.pk).update(state="proposed")
    with pytest.raises(DatabaseError), transaction.atomic():
        ApprovalRuleChange.objects.filter(pk=change.pk).delete()


def test_an_approver_names_a_delegate_for_a_period_and_revokes_it(estate):
    now = timezone.now()
    row = delegation_create(actor=estate.cast.manager, delegate=estate.boss, starts_at=now,
                            ends_at=now + timedelta(days=3), reason="holiday")  # fmt: skip
    assert row.approver == estate.cast.manager
    assert AuditEntry.objects.filter(action="delegation.create").exists()
    with pytest.raises(PermissionDenied):
        delegation_revoke(actor=estate.cast.identity_owner, delegation=row)
    delegation_revoke(actor=estate.cast.manager, delegation=row)
    with pytest.raises(Conflict):
        delegation_revoke(actor=estate.cast.manager, delegation=row)
    assert AuditEntry.objects.filter(action="delegation.revoke").exists()


def test_delegations_for_someone_else_need_a_manager_or_administrator_and_bad_periods_name_the_field(estate):
    now = timezone.now()
    with pytest.raises(PermissionDenied):
        delegation_create(actor=estate.cast.identity_owner, approver=estate.cast.manager, delegate=estate.boss,
                          starts_at=now, ends_at=now + timedelta(days=1))  # fmt: skip
    delegation_create(actor=estate.cast.administrator, approver=estate.cast.manager, delegate=estate.boss,
                      starts_at=now, ends_at=now + timedelta(days=1))  # fmt: skip
    for kwargs, field in (({"delegate": estate.cast.manager}, "delegate"),
                          ({"ends_at": now - timedelta(days=1)}, "ends_at"),
                          ({"starts_at": "not a date"}, "starts_at")):  # fmt: skip
        options = {"actor": estate.cast.manager, "delegate": estate.boss, "starts_at": now,
                   "ends_at": now + timedelta(days=1), **kwargs}  # fmt: skip
        with pytest.raises(ValidationError) as raised:
            delegation_create(**options)
        assert field in raised.value.message_dict
    assert Delegation.objects.count() == 1
