"""Who may open what among the approval-rule and delegation pages (docs/permissions.md): anonymous (to
sign-in), the wrong role (403), an object that is not theirs (404: a delegation neither made by nor to them) and
whoever may (200, or 302 to the step-up page before a rule change). Nothing refused is written."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from agentiam.permissions import Role
from agentiam.stepup import SESSION_AT, SESSION_USER
from audit.models import AuditEntry
from reviews.models import ApprovalRule, ApprovalRuleChange, Delegation
from reviews.services.rule_changes import delegation_create, rule_change_propose
from tests.cast import OUTSIDER, check_access, make_person

pytestmark = pytest.mark.django_db

ALL = list(Role)
ADMIN = [Role.ADMINISTRATOR]
YES = {"confirm": "yes"}


def stepped_up(client, user):
    session = client.session
    session[SESSION_AT], session[SESSION_USER] = int(time.time()), user.pk
    session.save()
    return client


def written() -> tuple[int, int, int]:
    audited = AuditEntry.objects.filter(action__regex=r"^(approval_rule|delegation)\.").count()
    return ApprovalRuleChange.objects.count(), Delegation.objects.count(), audited


@pytest.fixture
def change(estate):
    return rule_change_propose(actor=estate.cast.administrator, kind="create", reason="dev writes",
                               fields={"name": "Dev write", "priority": 6, "max_duration_seconds": 600})  # fmt: skip


@pytest.fixture
def second_admin(db):
    return make_person("second-admin", Role.ADMINISTRATOR)


@pytest.fixture
def deputy(db):
    return make_person("deputy", Role.MANAGER, employee_id="C-deputy")


@pytest.fixture
def delegation(estate, deputy):
    now = timezone.now()
    return delegation_create(actor=estate.cast.manager, delegate=deputy, starts_at=now, ends_at=now + timedelta(days=2))


# --- reading ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["reviews:rules", "reviews:rule-changes", "reviews:delegations"])
def test_the_lists_open_for_every_role(estate, client_factory, name):
    check_access(client_factory, reverse(name), cast=estate.cast, allowed=ALL, expect_allowed=(200,))


def test_a_change_opens_for_every_role_and_an_unknown_one_is_a_404(estate, client_factory, change):
    check_access(client_factory, reverse("reviews:rule-change", args=[change.uuid]), cast=estate.cast, allowed=ALL,
                 expect_allowed=(200,))  # fmt: skip
    missing = client_factory(estate.cast.auditor).get(reverse("reviews:rule-change", args=[uuid.uuid4()]))
    assert missing.status_code == 404


# --- proposing, applying, withdrawing --------------------------------------------------------------------------


def _rule_pages(change) -> list[str]:
    rule = ApprovalRule.objects.get(name="High identity: one approver")
    return [
        reverse("reviews:rule-new"),
        reverse("reviews:rule-edit", args=[rule.uuid]),
        reverse("reviews:rule-disable", args=[rule.uuid]),
        reverse("reviews:rule-change-apply", args=[change.uuid]),
    ]


def test_proposing_and_applying_are_for_administrators_who_step_up_first(estate, client_factory, change, second_admin):
    for url in _rule_pages(change):
        seen = check_access(client_factory, url, cast=estate.cast, allowed=ADMIN, expect_allowed=(302, 403))
        if "apply" not in url:
            assert seen["administrator"] == 302, url
        answer = client_factory(second_admin).get(url)
        assert answer.status_code == 302 and answer.headers["Location"].startswith(reverse("step_up")), url
        assert stepped_up(client_factory(second_admin), second_admin).get(url).status_code == 200, url


def test_the_author_of_a_change_may_not_open_its_apply_page_even_stepped_up(estate, client_factory, change):
    author = estate.cast.administrator
    url = reverse("reviews:rule-change-apply", args=[change.uuid])
    assert stepped_up(client_factory(author), author).get(url).status_code == 403


def test_an_unknown_rule_or_change_is_a_404_for_an_administrator(estate, client_factory, second_admin):
    client = stepped_up(client_factory(second_admin), second_admin)
    for name in ("reviews:rule-edit", "reviews:rule-disable", "reviews:rule-change-apply",
                 "reviews:rule-change-withdraw"):  # fmt: skip
        assert client.get(reverse(name, args=[uuid.uuid4()])).status_code == 404, name


def test_withdrawing_is_for_administrators(estate, client_factory, change):
    url = reverse("reviews:rule-change-withdraw", args=[change.uuid])
    check_access(client_factory, url, cast=estate.cast, allowed=ADMIN, expect_allowed=(200,))


def test_posting_without_the_right_writes_nothing(estate, client_factory, change, second_admin):
    rule = ApprovalRule.objects.get(name="High identity: one approver")
    posts = [
        (reverse("reviews:rule-new"), {"name": "x", "priority": 3, "approvals_needed": 1, "max_duration_minutes": 5,
                                       "reason": "x"}),
        (reverse("reviews:rule-disable", args=[rule.uuid]), {"reason": "x"}),
        (reverse("reviews:rule-change-apply", args=[change.uuid]), YES),
        (reverse("reviews:rule-change-withdraw", args=[change.uuid]), YES),
    ]  # fmt: skip
    before = written()
    for url, data in posts:
        anonymous = client_factory(None).post(url, data)
        assert anonymous.status_code == 302 and anonymous["Location"].startswith(reverse("login"))
        for role in [*(r for r in Role if r != Role.ADMINISTRATOR), OUTSIDER]:
            person = estate.cast[role]
            assert stepped_up(client_factory(person), person).post(url, data).status_code == 403, (url, role)
        if "withdraw" not in url:  # a rule change without a step-up is sent to the step-up page
            assert client_factory(second_admin).post(url, data).status_code == 302
    author = estate.cast.administrator
    assert stepped_up(client_factory(author), author).post(posts[2][0], YES).status_code == 403
    assert written() == before
    change.refresh_from_db()
    assert change.state == "proposed"


# --- delegations -----------------------------------------------------------------------------------------------


def test_naming_a_delegate_is_for_approvers_and_administrators(estate, client_factory):
    check_access(client_factory, reverse("reviews:delegation-new"), cast=estate.cast,
                 allowed=[Role.MANAGER, Role.ADMINISTRATOR], expect_allowed=(200,))  # fmt: skip


def test_an_approver_group_member_without_the_manager_role_may_name_a_delegate(estate, client_factory):
    from django.contrib.auth.models import Group

    group = Group.objects.create(name="change-board")
    ApprovalRule.objects.filter(name="High identity: one approver").update(approver_group=group)
    member = make_person("board-member", Role.AUDITOR)
    member.groups.add(group)
    assert client_factory(member).get(reverse("reviews:delegation-new")).status_code == 200


def test_revoking_is_for_the_approver_who_made_it_and_administrators(estate, client_factory, delegation, deputy):
    url = reverse("reviews:delegation-revoke", args=[delegation.uuid])
    anonymous = client_factory(None).get(url)
    assert anonymous.status_code == 302 and anonymous["Location"].startswith(reverse("login"))
    expected = {
        estate.cast.manager: 200,  # the approver who made it
        estate.cast.administrator: 200,
        deputy: 403,  # the delegate sees it, may not revoke it
        estate.cast.outsider: 403,  # no role
        make_person("other-manager", Role.MANAGER): 404,  # neither made by nor to them
        estate.cast.identity_owner: 404,
        estate.cast.auditor: 404,
        estate.cast.compliance_officer: 404,
        estate.cast.security_analyst: 404,
    }
    before = written()
    for person, status in expected.items():
        client = client_factory(person)
        assert client.get(url).status_code == status, person
        if status != 200:
            assert client.post(url, YES).status_code == status, person
    assert client_factory(None).post(url, YES).status_code == 302
    assert written() == before
    delegation.refresh_from_db()
    assert delegation.revoked_at is None
