"""/api/v1/approval-rules/, /api/v1/approval-rule-changes/ and /api/v1/delegations/: who may use each endpoint
(anonymous 401, the wrong role 403, not their delegation 404, allowed), an API token never proposing or applying
a rule change (403 step_up_required), four eyes over the API, and bad input naming the field with nothing
written."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from agentiam.permissions import Role
from agentiam.stepup import SESSION_AT, SESSION_USER
from audit.models import AuditEntry
from identities import services as registry
from reviews.models import ApprovalRule, ApprovalRuleChange, Delegation
from reviews.services.rule_changes import delegation_create, rule_change_propose
from tests.cast import check_access, make_person

pytestmark = pytest.mark.django_db

RULES, CHANGES, DELEGATIONS = "/api/v1/approval-rules/", "/api/v1/approval-rule-changes/", "/api/v1/delegations/"
ALL = list(Role)
NEW = {"kind": "create", "reason": "dev writes need four eyes",
       "fields": {"name": "Dev write", "priority": 6, "environment": "dev", "action": "write", "approvals_needed": 2,
                  "max_duration_seconds": 1800}}  # fmt: skip


def post(client, path, body=None, **headers):
    return client.post(path, json.dumps(body or {}), content_type="application/json", **headers)


def stepped_up(client, user):
    session = client.session
    session[SESSION_AT], session[SESSION_USER] = int(time.time()), user.pk
    session.save()
    return client


def bearer(person) -> dict:
    _, secret = registry.api_token_create(actor=person, name="automation")
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}


@pytest.fixture
def second_admin(db):
    return make_person("second-admin", Role.ADMINISTRATOR)


@pytest.fixture
def deputy(db):
    return make_person("deputy", Role.MANAGER, employee_id="C-deputy")


def period(days: int = 3) -> dict:
    now = timezone.now()
    return {"starts_at": now.isoformat(), "ends_at": (now + timedelta(days=days)).isoformat()}


# --- the rules and their changes -------------------------------------------------------------------------------


def test_every_role_reads_the_rules_lowest_number_first(estate, client_factory):
    check_access(client_factory, RULES, cast=estate.cast, allowed=ALL, expect_allowed=(200,))
    results = client_factory(estate.cast.identity_owner).get(RULES).json()["results"]
    assert [r["priority"] for r in results] == sorted(r["priority"] for r in results) and len(results) == 5
    rule = ApprovalRule.objects.get(priority=10)
    one = client_factory(estate.cast.auditor).get(f"{RULES}{rule.uuid}/").json()
    assert one["name"] == rule.name and one["production_secrets"] is True and one["approvals_needed"] == 2
    admin = stepped_up(client_factory(estate.cast.administrator), estate.cast.administrator)
    assert post(admin, RULES, NEW["fields"]).status_code == 403  # nobody writes a rule but through a proposal


def test_every_role_reads_the_changes(estate, client_factory):
    change = rule_change_propose(actor=estate.cast.administrator, **NEW)
    check_access(client_factory, CHANGES, cast=estate.cast, allowed=ALL, expect_allowed=(200,))
    check_access(client_factory, f"{CHANGES}{change.uuid}/", cast=estate.cast, allowed=ALL, expect_allowed=(200,))
    found = client_factory(estate.cast.manager).get(f"{CHANGES}{change.uuid}/").json()
    assert found["state"] == "proposed" and found["proposed_by"] == estate.cast.administrator.username


def test_an_api_token_never_proposes_or_applies_a_change_even_an_administrators(estate, second_admin):
    refused = post(Client(), CHANGES, NEW, **bearer(estate.cast.administrator))
    assert refused.status_code == 403 and refused.json()["error"] == "step_up_required"
    change = rule_change_propose(actor=estate.cast.administrator, **NEW)
    refused = post(Client(), f"{CHANGES}{change.uuid}/apply/", **bearer(second_admin))
    assert refused.status_code == 403 and refused.json()["error"] == "step_up_required"
    change.refresh_from_db()
    assert change.state == "proposed" and ApprovalRuleChange.objects.count() == 1


def test_a_stepped_up_administrator_proposes_and_a_second_one_applies(estate, client_factory, second_admin):
    author = stepped_up(client_factory(estate.cast.administrator), estate.cast.administrator)
    made = post(author, CHANGES, NEW)
    assert made.status_code == 201, made.content
    change_id = made.json()["id"]
    assert AuditEntry.objects.filter(action="approval_rule.propose").count() == 1
    own = post(author, f"{CHANGES}{change_id}/apply/")
    assert own.status_code == 403 and "second administrator" in own.json()["detail"]
    other = stepped_up(client_factory(second_admin), second_admin)
    applied = post(other, f"{CHANGES}{change_id}/apply/")
    assert applied.status_code == 200 and applied.json()["state"] == "applied"
    assert applied.json()["decided_by"] == "second-admin"
    assert ApprovalRule.objects.get(name="Dev write").approvals_needed == 2
    assert post(other, f"{CHANGES}{change_id}/apply/").status_code == 409


def test_editing_over_the_api_names_the_rule_by_its_id(estate, client_factory, second_admin):
    rule = ApprovalRule.objects.get(name="High identity: one approver")
    author = stepped_up(client_factory(estate.cast.administrator), estate.cast.administrator)
    made = post(author, CHANGES, {"kind": "edit", "rule": str(rule.uuid), "fields": {"max_duration_seconds": 7200},
                                  "reason": "shorter"})  # fmt: skip
    assert made.status_code == 201 and made.json()["rule"] == str(rule.uuid)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**NEW, "kind": "rename"}, "kind"),
        ({**NEW, "reason": ""}, "reason"),
        ({**NEW, "fields": {**NEW["fields"], "priority": 10}}, "priority"),
        ({**NEW, "fields": {**NEW["fields"], "approvals_needed": 9}}, "approvals_needed"),
        ({**NEW, "fields": {**NEW["fields"], "colour": "red"}}, "colour"),
        ({"kind": "edit", "rule": "00000000-0000-0000-0000-000000000000", "reason": "x"}, "rule"),
        ({"kind": "edit", "reason": "x"}, "rule"),
    ],
)
def test_bad_input_names_the_field_and_writes_nothing(estate, client_factory, body, field):
    client = stepped_up(client_factory(estate.cast.administrator), estate.cast.administrator)
    response = post(client, CHANGES, body)
    assert response.status_code == 400 and field in response.json()["fields"], response.json()
    assert not ApprovalRuleChange.objects.exists()


def test_only_administrators_propose_or_withdraw(estate, client_factory):
    change = rule_change_propose(actor=estate.cast.administrator, **NEW)
    for role in (Role.MANAGER, Role.AUDITOR, Role.COMPLIANCE_OFFICER, Role.SECURITY_ANALYST, Role.IDENTITY_OWNER):
        client = stepped_up(client_factory(estate.cast[role]), estate.cast[role])
        assert post(client, CHANGES, NEW).status_code == 403, role
        assert post(client, f"{CHANGES}{change.uuid}/withdraw/").status_code == 403, role
    assert post(Client(), f"{CHANGES}{change.uuid}/withdraw/").status_code == 401
    withdrawn = post(Client(), f"{CHANGES}{change.uuid}/withdraw/", **bearer(estate.cast.administrator))
    assert withdrawn.status_code == 200 and withdrawn.json()["state"] == "withdrawn"
    assert ApprovalRuleChange.objects.count() == 1


# --- delegations -----------------------------------------------------------------------------------------------


def test_a_manager_names_and_revokes_a_delegate_with_a_token(estate, deputy):
    headers = bearer(estate.cast.manager)
    made = post(Client(), DELEGATIONS, {"delegate": "deputy", "reason": "holiday", **period()}, **headers)
    assert made.status_code == 201, made.content
    assert made.json()["approver"] == estate.cast.manager.username and made.json()["delegate"] == "deputy"
    listed = Client().get(DELEGATIONS, **headers).json()["results"]
    assert [row["id"] for row in listed] == [made.json()["id"]]
    revoked = post(Client(), f"{DELEGATIONS}{made.json()['id']}/revoke/", **headers)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    assert post(Client(), f"{DELEGATIONS}{made.json()['id']}/revoke/", **headers).status_code == 409
    assert AuditEntry.objects.filter(action__in=["delegation.create", "delegation.revoke"]).count() == 2


def test_who_sees_and_revokes_a_delegation(estate, client_factory, deputy):
    now = timezone.now()
    row = delegation_create(actor=estate.cast.manager, delegate=deputy, starts_at=now, ends_at=now + timedelta(days=1))
    path = f"{DELEGATIONS}{row.uuid}/"
    other = make_person("other-manager", Role.MANAGER)
    for person, status in ((estate.cast.manager, 200), (deputy, 200), (estate.cast.administrator, 200),
                           (other, 404), (estate.cast.auditor, 404), (estate.cast.outsider, 403)):  # fmt: skip
        assert client_factory(person).get(path).status_code == status, person
    assert Client().get(path).status_code == 401
    for person, status in ((deputy, 403), (other, 404), (estate.cast.auditor, 404), (estate.cast.outsider, 403)):
        assert post(client_factory(person), f"{path}revoke/").status_code == status, person
    row.refresh_from_db()
    assert row.revoked_at is None
    assert [r["id"] for r in client_factory(other).get(DELEGATIONS).json()["results"]] == []
    assert len(client_factory(estate.cast.administrator).get(DELEGATIONS).json()["results"]) == 1


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"delegate": "cast-auditor"}, "delegate"),  # not an approver
        ({"delegate": "cast-manager"}, "delegate"),  # oneself
        ({"delegate": "nobody"}, "delegate"),
        ({"ends_at": "soon"}, "ends_at"),
        ({"ends_at": (timezone.now() - timedelta(days=1)).isoformat()}, "ends_at"),
        ({"reason": "x" * 2001}, "reason"),
    ],
)
def test_bad_delegations_name_the_field_and_write_nothing(estate, client_factory, deputy, changes, field):
    body = {"delegate": "deputy", **period(), **changes}
    response = post(client_factory(estate.cast.manager), DELEGATIONS, body)
    assert response.status_code == 400 and field in response.json()["fields"], response.json()
    assert not Delegation.objects.exists()


def test_only_approvers_delegate_and_only_administrators_for_someone_else(estate, client_factory, deputy):
    for role in (Role.IDENTITY_OWNER, Role.AUDITOR, Role.SECURITY_ANALYST):
        refused = post(client_factory(estate.cast[role]), DELEGATIONS, {"delegate": "deputy", **period()})
        assert refused.status_code == 403, role
    refused = post(client_factory(deputy), DELEGATIONS, {"approver": "cast-manager", "delegate": "cast-boss",
                                                         **period()})  # fmt: skip
    assert refused.status_code == 403
    made = post(client_factory(estate.cast.administrator), DELEGATIONS,
                {"approver": "cast-manager", "delegate": "deputy", **period()})  # fmt: skip
    assert made.status_code == 201 and made.json()["approver"] == "cast-manager"
    assert Delegation.objects.count() == 1
