"""Approval rules in the browser: every role reads the rules in force; an administrator, stepped up, proposes a
change (field errors beside their fields, nothing written when refused); a second administrator, stepped up,
applies it (its author gets a 403) and the next request is decided under it; any administrator withdraws an
open proposal; the history lists both. Each write leaves its audit entry."""

from __future__ import annotations

import time

import pytest
from django.urls import reverse

from agentiam.permissions import Role
from agentiam.stepup import SESSION_AT, SESSION_USER
from audit.models import AuditEntry
from reviews.models import ApprovalRule, ApprovalRuleChange
from reviews.services.rule_changes import rule_change_propose
from tests.cast import make_person
from tests.reviews.support import ask

pytestmark = pytest.mark.django_db

NEW = {"name": "Dev write: two approvers", "priority": "5", "environment": "dev", "action": "write",
       "approvals_needed": "2", "max_duration_minutes": "45", "reason": "writes in dev touch shared CI"}  # fmt: skip
YES = {"confirm": "yes"}


def stepped_up(client, user):
    session = client.session
    session[SESSION_AT], session[SESSION_USER] = int(time.time()), user.pk
    session.save()
    return client


@pytest.fixture
def second_admin(db):
    return make_person("second-admin", Role.ADMINISTRATOR, first_name="Sam", last_name="Second")


def admin_client(client_factory, person):
    return stepped_up(client_factory(person), person)


def test_every_role_reads_the_rules_in_force_in_order_and_only_administrators_are_offered_a_change(
    estate, client_factory
):
    page = client_factory(estate.cast.auditor).get(reverse("reviews:rules"))
    html = page.content.decode()
    assert page.status_code == 200
    names = [rule.name for rule in ApprovalRule.objects.order_by("priority")]
    assert [html.index(name) for name in names] == sorted(html.index(name) for name in names)
    assert "approved at once" in html and "production secrets" in html
    assert "Propose a rule" not in html and "/edit/" not in html
    admin = client_factory(estate.cast.administrator).get(reverse("reviews:rules")).content.decode()
    assert "Propose a rule" in admin and "Edit…" in admin and "Disable…" in admin


def test_the_rules_filter_by_state_and_tier(estate, client_factory):
    rule = ApprovalRule.objects.get(name="High identity: one approver")
    ApprovalRule.objects.filter(pk=rule.pk).update(enabled=False)
    client = client_factory(estate.cast.manager)
    disabled = client.get(reverse("reviews:rules"), {"state": "disabled"}).content.decode()
    assert rule.name in disabled and "Critical identity" not in disabled
    critical = client.get(reverse("reviews:rules"), {"state": "in_force", "risk_tier": "critical"}).content.decode()
    assert "Critical identity: two approvers" in critical and "Low-risk read" not in critical
    assert "Medium and low identities" in critical  # a blank tier matches every tier
    assert client.get(reverse("reviews:rules"), {"risk_tier": "extreme"}).status_code == 400


def test_proposing_needs_a_step_up_first(estate, client_factory):
    response = client_factory(estate.cast.administrator).get(reverse("reviews:rule-new"))
    assert response.status_code == 302 and "step-up" in response.headers["Location"]


def test_an_administrator_proposes_a_rule_and_nothing_applies_until_a_second_one_applies_it(
    estate, client_factory, second_admin
):
    author = estate.cast.administrator
    client = admin_client(client_factory, author)
    assert client.get(reverse("reviews:rule-new")).status_code == 200
    response = client.post(reverse("reviews:rule-new"), NEW)
    change = ApprovalRuleChange.objects.get()
    assert response.status_code == 302 and response.headers["Location"] == f"/reviews/rules/changes/{change.uuid}/"
    assert change.fields["max_duration_seconds"] == 45 * 60 and change.fields["environment"] == "dev"
    assert not ApprovalRule.objects.filter(name=NEW["name"]).exists()
    assert AuditEntry.objects.filter(action="approval_rule.propose", actor_id=author.pk).exists()
    page = client.get(reverse("reviews:rule-change", args=[change.uuid])).content.decode()
    assert "a second administrator must apply it" in page and "Review and apply" not in page
    listed = client.get(reverse("reviews:rules")).content.decode()
    assert "Waiting for a second administrator" in listed and NEW["name"] in listed

    # Its author may not apply it, stepped up or not; a second administrator may.
    assert client.get(reverse("reviews:rule-change-apply", args=[change.uuid])).status_code == 403
    assert client.post(reverse("reviews:rule-change-apply", args=[change.uuid]), YES).status_code == 403
    other = admin_client(client_factory, second_admin)
    assert "Review and apply" in other.get(reverse("reviews:rule-change", args=[change.uuid])).content.decode()
    confirm = other.get(reverse("reviews:rule-change-apply", args=[change.uuid]))
    assert confirm.status_code == 200 and "data-confirm" in confirm.content.decode()
    applied = other.post(reverse("reviews:rule-change-apply", args=[change.uuid]), YES)
    assert applied.status_code == 302
    rule = ApprovalRule.objects.get(name=NEW["name"])
    assert (rule.approvals_needed, rule.max_duration_seconds, rule.environment) == (2, 2700, "dev")
    assert AuditEntry.objects.filter(action="approval_rule.create", actor_id=second_admin.pk).exists()

    # The next request is decided under it: the estate's agent is in dev and asks for write.
    made = ask(estate, duration_seconds=1800)
    assert made.approvals_needed == 2 and made.rule == rule
    again = other.post(reverse("reviews:rule-change-apply", args=[change.uuid]), YES)
    assert again.status_code == 409


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"priority": "10"}, "priority"),  # a seeded rule's number
        ({"name": "High identity: one approver"}, "name"),
        ({"auto_approve": "on", "approvals_needed": "1"}, "approvals_needed"),
        ({"auto_approve": "on", "approvals_needed": "0", "max_duration_minutes": "120"}, "max_duration_minutes"),
        ({"approvals_needed": "0"}, "approvals_needed"),
        ({"eligible_approvals": "3"}, "eligible_approvals"),
        ({"environment": "moon"}, "environment"),
        ({"reason": ""}, "reason"),
        ({"max_duration_minutes": "0"}, "max_duration_minutes"),
    ],
)
def test_bad_input_is_named_beside_its_field_and_nothing_is_proposed(estate, client_factory, changes, field):
    client = admin_client(client_factory, estate.cast.administrator)
    response = client.post(reverse("reviews:rule-new"), {**NEW, **changes})
    assert response.status_code == 400
    assert field in response.context["form"].errors, response.context["form"].errors
    assert not ApprovalRuleChange.objects.exists()
    assert not AuditEntry.objects.filter(action__startswith="approval_rule.propose").exists()


def test_an_edit_proposes_only_what_changed_and_refuses_no_change(estate, client_factory, second_admin):
    rule = ApprovalRule.objects.get(name="High identity: one approver")
    client = admin_client(client_factory, estate.cast.administrator)
    url = reverse("reviews:rule-edit", args=[rule.uuid])
    form = client.get(url).context["form"]
    data = {name: value for name, value in form.initial.items() if value not in (None, False)}
    data["reason"] = "no change"
    unchanged = client.post(url, data)
    assert unchanged.status_code == 400 and "Change at least one field" in unchanged.content.decode()
    assert client.post(url, {**data, "max_duration_minutes": "120", "reason": "shorter"}).status_code == 302
    change = ApprovalRuleChange.objects.get()
    assert change.kind == "edit" and change.fields == {"max_duration_seconds": 7200}
    page = client_factory(second_admin).get(reverse("reviews:rule-change", args=[change.uuid])).content.decode()
    assert "4 h" in page and "2 h" in page  # before and after
    admin_client(client_factory, second_admin).post(reverse("reviews:rule-change-apply", args=[change.uuid]), YES)
    rule.refresh_from_db()
    assert rule.max_duration_seconds == 7200


def test_disabling_is_proposed_after_a_confirmation_and_applied_by_another(estate, client_factory, second_admin):
    rule = ApprovalRule.objects.get(name="High identity: one approver")
    client = admin_client(client_factory, estate.cast.administrator)
    url = reverse("reviews:rule-disable", args=[rule.uuid])
    assert "data-confirm" in client.get(url).content.decode()
    assert client.post(url, {"reason": ""}).status_code == 400
    assert client.post(url, {"reason": "replaced by per-environment rules"}).status_code == 302
    change = ApprovalRuleChange.objects.get(kind="disable")
    rule.refresh_from_db()
    assert rule.enabled
    admin_client(client_factory, second_admin).post(reverse("reviews:rule-change-apply", args=[change.uuid]), YES)
    rule.refresh_from_db()
    assert not rule.enabled
    assert AuditEntry.objects.filter(action="approval_rule.disable").exists()
    assert client.get(url).status_code == 302  # already disabled: back to the list


def test_any_administrator_withdraws_an_open_proposal_after_confirming(estate, client_factory, second_admin):
    change = rule_change_propose(actor=estate.cast.administrator, kind="create", reason="try",
                                 fields={"name": "x", "priority": 7, "max_duration_seconds": 600})  # fmt: skip
    client = client_factory(second_admin)
    url = reverse("reviews:rule-change-withdraw", args=[change.uuid])
    assert "data-confirm" in client.get(url).content.decode()
    assert client.post(url, YES).status_code == 302
    change.refresh_from_db()
    assert change.state == "withdrawn"
    assert AuditEntry.objects.filter(action="approval_rule.withdraw", actor_id=second_admin.pk).exists()
    assert client.post(url, YES).status_code == 409
    history = client_factory(estate.cast.auditor).get(reverse("reviews:rule-changes"), {"state": "withdrawn"})
    assert history.status_code == 200 and f"/reviews/rules/changes/{change.uuid}/" in history.content.decode()


def test_the_change_history_is_empty_at_first(estate, client_factory):
    page = client_factory(estate.cast.manager).get(reverse("reviews:rule-changes"))
    assert "No changes yet" in page.content.decode()
