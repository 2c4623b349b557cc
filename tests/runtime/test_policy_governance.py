"""Policies as code, governed: drafts, validation before activation, separation of duties with step-up,
simulation over the recorded decision log, and the pages' access."""

from __future__ import annotations

import time

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from agentiam.permissions import SEE_EVERYTHING, Role
from agentiam.stepup import SESSION_AT, SESSION_USER
from audit.models import AuditEntry
from identities.runtime.models import PolicyDecision, PolicyVersion
from identities.runtime.policy import SCHEMA, validate
from identities.runtime.policy.cases import baseline_cases
from identities.runtime.services import policies as services
from tests.cast import check_access, make_person
from tests.runtime_support import access_token, decide
from tests.support import sign_in

pytestmark = pytest.mark.django_db

NO_GITHUB_READS = """
@id("deny-github-reads")
@explanation("Repository reads are paused while the incident is investigated.")
forbid (principal, action, resource)
when { resource.key == "github.read_repo" };
"""
ALLOW_ALL = '\n@id("allow-everything")\n@explanation("Everything is allowed.")\npermit (principal, action, resource);\n'


@pytest.fixture
def second_admin(db):
    return make_person("second-admin", Role.ADMINISTRATOR, employee_id="C-admin-2")


def active() -> PolicyVersion:
    return PolicyVersion.objects.get(status="active")


def passing_cases(text: str) -> list[dict]:
    """The baseline cases the stricter text still satisfies (its author drops or rewrites the others)."""
    return [case.as_json() for case in baseline_cases() if not validate(text, SCHEMA, [case])]


def stricter_draft(author) -> PolicyVersion:
    draft = services.policy_draft_create(actor=author, parent=active())
    text = active().policy_text + NO_GITHUB_READS
    return services.policy_draft_update(actor=author, version=draft, policy_text=text, test_cases=passing_cases(text))


def stepped_up(client, user):
    session = client.session
    session[SESSION_AT], session[SESSION_USER] = int(time.time()), user.pk
    session.save()
    return client


def test_a_draft_copies_its_parent_and_is_audited(cast):
    draft = services.policy_draft_create(actor=cast.administrator, parent=active())
    assert draft.status == "draft" and draft.parent == active() and draft.author == cast.administrator
    assert draft.policy_text == active().policy_text and draft.number == active().number + 1
    assert AuditEntry.objects.filter(action="policy.draft_create", object_id=str(draft.uuid)).exists()


def test_only_an_administrator_drafts(cast):
    with pytest.raises(PermissionDenied, match=services.ERR_ADMIN_ONLY):
        services.policy_draft_create(actor=cast.security_analyst, parent=active())


def test_a_version_whose_test_cases_fail_cannot_be_activated(cast, second_admin):
    draft = services.policy_draft_create(actor=cast.administrator, parent=active())
    # Stricter text, but the baseline's "standing read is allowed" case still expects allow.
    draft = services.policy_draft_update(
        actor=cast.administrator, version=draft, policy_text=draft.policy_text + NO_GITHUB_READS,
        test_cases=draft.test_cases or [c.as_json() for c in baseline_cases()],
    )  # fmt: skip
    assert any("standing read is allowed" in error for error in services.policy_validate(version=draft))
    with pytest.raises(ValidationError) as refused:
        services.policy_activate(actor=second_admin, version=draft, digest=services.policy_digest(draft))
    assert services.ERR_INVALID in refused.value.messages
    draft.refresh_from_db()
    assert draft.status == "draft" and active().number == 1


def test_an_administrator_cannot_activate_their_own_change(cast):
    draft = stricter_draft(cast.administrator)
    with pytest.raises(PermissionDenied, match=services.ERR_OWN_CHANGE):
        services.policy_activate(actor=cast.administrator, version=draft)
    assert active().number == 1


def test_a_frozen_version_cannot_be_edited(cast):
    with pytest.raises(Exception, match="Only a draft"):
        services.policy_draft_update(actor=cast.administrator, version=active(), policy_text="x", test_cases=[])


def test_a_second_administrator_with_step_up_activates_and_the_next_decide_uses_it(estate, second_admin, client):
    token = access_token()["access_token"]
    assert decide(estate.credential, token).json()["decision"] == "allow"
    draft = stricter_draft(estate.cast.administrator)
    url = reverse("runtime:policy-activate", args=[draft.uuid])
    sign_in(client, second_admin)
    assert client.post(url)["Location"].startswith(reverse("step_up"))  # no step-up yet: nothing changes
    assert active().number == 1
    response = stepped_up(client, second_admin).post(url, {"digest": services.policy_digest(draft)})
    assert response.status_code == 302
    draft.refresh_from_db()
    old = PolicyVersion.objects.get(number=1)
    assert draft.status == "active" and draft.activated_by == second_admin and old.status == "retired"
    assert old.retired_at == draft.activated_at
    body = decide(estate.credential, token).json()
    assert body["decision"] == "deny" and "deny-github-reads" in body["reasons"]
    assert AuditEntry.objects.filter(action="policy.activate", object_id=str(draft.uuid)).exists()


def test_the_author_is_refused_on_the_activate_page_even_with_step_up(cast, client):
    draft = stricter_draft(cast.administrator)
    sign_in(client, cast.administrator)
    response = stepped_up(client, cast.administrator).post(reverse("runtime:policy-activate", args=[draft.uuid]))
    assert response.status_code == 409 and services.ERR_OWN_CHANGE in response.content.decode()
    assert active().number == 1


def test_simulating_a_stricter_draft_lists_exactly_the_calls_that_flip(estate):
    token = access_token()["access_token"]
    allowed = decide(estate.credential, token).json()
    denied = decide(estate.credential, token, resource={"repo": "evil/api"}).json()
    assert (allowed["decision"], denied["decision"]) == ("allow", "deny")
    simulation = services.policy_simulate(version=stricter_draft(estate.cast.administrator), days=1)
    assert simulation.replayed == 2
    assert [(str(f.decision.uuid), f.was_allow, f.now_allow) for f in simulation.flips] == [
        (allowed["decision_id"], True, False)
    ]
    assert simulation.flips[0].explained[0][0] == "deny-github-reads"


def test_simulating_a_looser_draft_lists_the_denials_it_would_allow(estate):
    token = access_token()["access_token"]
    decide(estate.credential, token)
    denied = decide(estate.credential, token, resource={"repo": "evil/api"}).json()
    draft = services.policy_draft_create(actor=estate.cast.administrator, parent=active())
    draft = services.policy_draft_update(actor=estate.cast.administrator, version=draft, policy_text=ALLOW_ALL,
                                         test_cases=[])  # fmt: skip
    flips = services.policy_simulate(version=draft, days=1).flips
    assert [(str(f.decision.uuid), f.now_allow) for f in flips] == [(denied["decision_id"], True)]


def test_simulation_is_bounded_to_the_newest_decisions(estate):
    token = access_token()["access_token"]
    for _ in range(3):
        decide(estate.credential, token)
    simulation = services.policy_simulate(version=stricter_draft(estate.cast.administrator), days=1, limit=2)
    newest = list(PolicyDecision.objects.order_by("-decided_at", "-id")[:2])
    assert simulation.limited and [f.decision.pk for f in simulation.flips] == [d.pk for d in newest]


def test_simulation_days_out_of_range_names_the_field(cast):
    with pytest.raises(ValidationError) as refused:
        services.policy_simulate(version=active(), days=365)
    assert refused.value.message_dict == {"days": [services.ERR_DAYS]}


def test_the_diff_shows_the_added_rule_and_the_changed_cases(cast):
    draft = stricter_draft(cast.administrator)
    diff = services.policy_diff(version=draft, against=draft.parent)
    assert '+@id("deny-github-reads")' in diff["policy"]
    assert any(line.startswith("-") and "standing read is allowed" in line for line in diff["test_cases"])


def test_the_editor_saves_and_shows_validation_errors_with_the_rule(cast, client):
    draft = services.policy_draft_create(actor=cast.administrator, parent=active())
    sign_in(client, cast.administrator)
    text = draft.policy_text + "\nforbid (principal, action, resource) when { resource.nope };\n"
    response = client.post(reverse("runtime:policy-edit", args=[draft.uuid]),
                           {"policy_text": text, "test_cases": "[]", "summary": "broken"})  # fmt: skip
    assert response.status_code == 400
    page = response.content.decode()
    assert "has no @id" in page and "rule #" in page
    draft.refresh_from_db()
    assert draft.summary == "broken"


def test_the_editor_refuses_test_cases_that_are_not_json(cast, client):
    draft = services.policy_draft_create(actor=cast.administrator, parent=active())
    sign_in(client, cast.administrator)
    response = client.post(reverse("runtime:policy-edit", args=[draft.uuid]),
                           {"policy_text": draft.policy_text, "test_cases": "{nope"})  # fmt: skip
    assert response.status_code == 400 and "The test cases must be a JSON list" in response.content.decode()


def test_pages_show_a_draft_its_rules_and_the_simulation(estate, client):
    token = access_token()["access_token"]
    decide(estate.credential, token)
    draft = stricter_draft(estate.cast.administrator)
    sign_in(client, estate.cast.auditor)
    page = client.get(reverse("runtime:policy", args=[draft.uuid])).content.decode()
    assert "deny-github-reads" in page and "Repository reads are paused" in page
    page = client.get(reverse("runtime:policy-simulate", args=[draft.uuid]) + "?days=1").content.decode()
    assert "1 call would flip" in page and "triage-bot" in page
    assert client.get(reverse("runtime:policy-simulate", args=[draft.uuid]) + "?days=0").status_code == 400


def test_the_version_list_has_a_fixed_number_of_queries(cast, client, django_assert_max_num_queries):
    for _ in range(3):
        services.policy_draft_create(actor=cast.administrator, parent=active())
    sign_in(client, cast.auditor)
    with django_assert_max_num_queries(12):
        assert client.get(reverse("runtime:policies")).status_code == 200


@pytest.mark.parametrize("name", ["runtime:policies"])
def test_the_list_is_for_the_see_everything_roles(cast, client_factory, name):
    check_access(client_factory, reverse(name), allowed=SEE_EVERYTHING, cast=cast)


@pytest.mark.parametrize("name", ["runtime:policy", "runtime:policy-diff", "runtime:policy-simulate"])
def test_version_pages_are_for_the_see_everything_roles(cast, client_factory, name):
    draft = services.policy_draft_create(actor=cast.administrator, parent=active())
    check_access(client_factory, reverse(name, args=[draft.uuid]), allowed=SEE_EVERYTHING, cast=cast)


def test_the_editor_is_for_administrators(cast, client_factory):
    draft = services.policy_draft_create(actor=cast.administrator, parent=active())
    check_access(client_factory, reverse("runtime:policy-edit", args=[draft.uuid]), allowed=[Role.ADMINISTRATOR],
                 cast=cast)  # fmt: skip


def test_drafting_is_for_administrators(cast, client_factory):
    url = reverse("runtime:policy-draft", args=[active().uuid])
    check_access(client_factory, url, method="post", allowed=[Role.ADMINISTRATOR], cast=cast)


def test_activation_is_for_administrators_and_needs_step_up(cast, client_factory):
    draft = stricter_draft(cast.administrator)
    statuses = check_access(client_factory, reverse("runtime:policy-activate", args=[draft.uuid]),
                            allowed=[Role.ADMINISTRATOR], cast=cast)  # fmt: skip
    assert statuses["administrator"] == 302  # to the step-up page


def test_an_unknown_version_is_404(cast, client):
    sign_in(client, cast.auditor)
    assert client.get(reverse("runtime:policy", args=["00000000-0000-0000-0000-000000000000"])).status_code == 404


# --- API ---------------------------------------------------------------------------------------------------


def test_the_api_lists_drafts_validates_and_simulates(estate, client):
    token = access_token()["access_token"]
    decide(estate.credential, token)
    sign_in(client, estate.cast.administrator)
    response = client.post("/api/v1/policies/", {"parent": str(active().uuid)}, content_type="application/json")
    assert response.status_code == 201, response.content
    draft_id = response.json()["id"]
    text = active().policy_text + NO_GITHUB_READS
    response = client.put(f"/api/v1/policies/{draft_id}/", {"policy_text": text, "test_cases": passing_cases(text)},
                          content_type="application/json")  # fmt: skip
    assert response.status_code == 200, response.content
    assert client.get(f"/api/v1/policies/{draft_id}/validate/").json() == {"valid": True, "errors": []}
    flips = client.get(f"/api/v1/policies/{draft_id}/simulate/?days=1").json()["flips"]
    assert [(f["tool"], f["before"], f["after"]) for f in flips] == [("github.read_repo", "allow", "deny")]
    assert client.get("/api/v1/policies/").json()["results"][0]["id"] == draft_id


def test_activation_over_the_api_needs_a_step_up_and_a_second_administrator(cast, second_admin, client):
    draft = stricter_draft(cast.administrator)
    url = f"/api/v1/policies/{draft.uuid}/activate/"
    sign_in(client, second_admin)
    response = client.post(url)
    assert response.status_code == 403 and response.json()["error"] == "step_up_required"
    sign_in(client, cast.administrator)
    response = stepped_up(client, cast.administrator).post(url)
    assert response.status_code == 403 and response.json()["detail"] == services.ERR_OWN_CHANGE
    sign_in(client, second_admin)
    digest = client.get(f"/api/v1/policies/{draft.uuid}/").json()["digest"]
    response = stepped_up(client, second_admin).post(url, {"digest": digest}, content_type="application/json")
    assert response.status_code == 200 and response.json()["status"] == "active"


def test_the_policy_api_is_read_by_the_see_everything_roles_and_written_by_administrators(cast, client_factory):
    check_access(client_factory, "/api/v1/policies/", allowed=SEE_EVERYTHING, cast=cast)
    check_access(client_factory, "/api/v1/policies/", method="post", data={"parent": str(active().uuid)},
                 allowed=[Role.ADMINISTRATOR], cast=cast, expect_allowed=(201,))  # fmt: skip
