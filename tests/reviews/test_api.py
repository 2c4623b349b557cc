"""/api/v1/elevation-requests/: asking, merging, "already held", bad input naming the field with nothing written,
approving less, denying, withdrawing and ending the grant early, and who may use each endpoint (anonymous,
wrong role, another owner, allowed)."""

from __future__ import annotations

import json

import pytest

from audit.models import AuditEntry
from identities import services as registry
from identities.models import Grant, Identity
from reviews.models import ElevationRequest
from tests.cast import make_person
from tests.factories import EntitlementFactory
from tests.reviews.support import WRITE, ask

pytestmark = pytest.mark.django_db
LIST = "/api/v1/elevation-requests/"


def url(made, verb: str = "") -> str:
    return f"{LIST}{made.uuid}/" + (f"{verb}/" if verb else "")


def post(client, path, body):
    return client.post(path, json.dumps(body), content_type="application/json")


def body(estate, **extra):
    return {
        "identity": str(estate.agent.uuid),
        "scopes": [WRITE],
        "task": "fix-ci",
        "justification": "CI is red on main",
        "duration_seconds": 3600,
        "urgency": "high",
        **extra,
    }


@pytest.fixture
def outsiders(estate):
    """Another owner (of another identity) and another manager (of nobody here): they see none of it."""
    other_manager = make_person("other-manager", "manager")
    other_owner = make_person("other-owner", "identity_owner", manager=other_manager)
    registry.identity_create(actor=other_owner, kind="agent", name="other-bot", environment="dev")
    return {"other_owner": other_owner, "other_manager": other_manager}


def walk(client_factory, estate, extra, method, path, expected: dict[str, int], data=None):
    """Call `path` as each person named in `expected` (in order; None for anonymous) and check the status."""
    people = {**estate.cast.members(), "boss": estate.boss, **extra}
    for name, status in expected.items():
        client = client_factory(None if name == "anonymous" else people[name])
        response = client.get(path) if method == "get" else post(client, path, data if data is not None else {})
        assert response.status_code == status, (name, response.status_code, response.content[:300])


def test_an_owner_asks_and_the_answer_carries_id_and_state(estate, client_factory):
    client = client_factory(estate.cast.identity_owner)
    response = post(client, LIST, body(estate))
    assert response.status_code == 201, response.content
    answer = response.json()
    made = ElevationRequest.objects.get(uuid=answer["id"])
    assert answer["state"] == "pending" and answer["urgency"] == "high" and answer["scopes"] == [WRITE]
    assert answer["task"] == str(made.task.uuid) and answer["requested_by"] == "cast-identity_owner"
    assert answer["granted"] is None and answer["decided_by"] == []
    assert AuditEntry.objects.filter(action="elevation_request.create", object_id=str(made.uuid)).exists()
    again = post(client, LIST, body(estate, task=str(made.task.uuid), justification="still red"))
    assert again.status_code == 200 and again.json()["id"] == answer["id"]  # merged
    assert ElevationRequest.objects.count() == 1


def test_already_held_says_so_and_creates_nothing(estate, client_factory):
    EntitlementFactory(identity=estate.agent, tool=estate.write, action="write", mode="standing")
    response = post(client_factory(estate.cast.identity_owner), LIST, body(estate))
    assert response.status_code == 409
    assert "Already held" in response.json()["detail"]
    assert not ElevationRequest.objects.exists()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"scopes": ["nosuch.tool:write"]}, "scopes"),  # unknown tool
        ({"scopes": ["github.create_pull_request"]}, "scopes"),  # malformed scope
        ({"scopes": ["github.create_pull_request:admin"]}, "scopes"),  # an action the tool does not offer
        ({"scopes": []}, "scopes"),
        ({"scope": {"Repo!": "acme/*"}}, "scope"),  # malformed scope object
        ({"scope": {"repo": ""}}, "scope"),
        ({"duration_seconds": 0}, "duration_seconds"),
        ({"duration_seconds": 8 * 3600 + 1}, "duration_seconds"),  # past the rule's cap
        ({"duration_seconds": 2**40}, "duration_seconds"),
        ({"urgency": "asap"}, "urgency"),
        ({"justification": "red\x00"}, "justification"),  # NUL
        ({"justification": "x" * 2001}, "justification"),  # oversized
        ({"justification": ""}, "justification"),
        ({"identity": "not-a-uuid"}, "identity"),
        ({"task": "00000000-0000-0000-0000-000000000000"}, "task"),  # a task id of nobody's
        ({"task": ""}, "task"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_writes_nothing(estate, client_factory, change, field):
    client = client_factory(estate.cast.identity_owner)
    entries = AuditEntry.objects.count()
    response = post(client, LIST, body(estate, **change))
    assert response.status_code == 400, response.content
    assert any(name.split(".")[0] == field for name in response.json()["fields"]), response.json()
    assert not ElevationRequest.objects.exists()
    assert AuditEntry.objects.count() == entries


def test_a_manager_approves_less_and_the_answer_says_who_when_what_and_until_when(estate, client_factory):
    made = ask(estate, scopes=[WRITE, "github.read_repo:read"])
    manager = client_factory(estate.cast.manager)
    too_long = post(manager, url(made, "approve"), {"duration_seconds": 7200})
    assert too_long.status_code == 400 and "duration_seconds" in too_long.json()["fields"]
    other = post(manager, url(made, "approve"), {"scopes": ["github.read_repo:write"]})
    assert other.status_code == 400 and "scopes" in other.json()["fields"]
    response = post(manager, url(made, "approve"), {"comment": "ok", "duration_seconds": 600, "scopes": [WRITE]})
    assert response.status_code == 200, response.content
    answer = response.json()
    assert answer["state"] == "approved" and answer["decided_by"] == ["cast-manager"]
    assert answer["decided_at"] and answer["approvals"][0]["decision"] == "approve"
    granted = answer["granted"]
    assert (granted["scopes"], granted["duration_seconds"]) == ([WRITE], 600)
    assert granted["grant"] == str(Grant.objects.get().uuid) and granted["expires_at"] and granted["ended_at"] is None


def test_approving_more_than_asked_is_refused_naming_the_field(estate, client_factory):
    made = ask(estate, scope={"repo": "acme/*"})
    manager = client_factory(estate.cast.manager)
    for change, field in (
        ({"duration_seconds": 3601}, "duration_seconds"),
        ({"duration_seconds": 0}, "duration_seconds"),
        ({"scopes": ["github.read_repo:read"]}, "scopes"),
        ({"scope": {"repo": "**"}}, "scope"),
        ({"comment": "x" * 2001}, "comment"),
    ):
        response = post(manager, url(made, "approve"), change)
        assert response.status_code == 400 and field in response.json()["fields"], (change, response.content)
    made.refresh_from_db()
    assert made.state == "pending" and not made.approvals.exists()
    assert post(manager, url(made, "approve"), {"duration_seconds": 60, "scope": {"repo": "acme/api"}}).json()[
        "granted"
    ]["scope"] == {"repo": "acme/api"}


def test_list_filters_and_to_decide(estate, client_factory, outsiders):
    first = ask(estate, urgency="high")
    ask(estate, task="other")
    manager = client_factory(estate.cast.manager)
    rows = manager.get(LIST, {"to_decide": "true", "urgency": "high"}).json()["results"]
    assert [row["id"] for row in rows] == [str(first.uuid)]
    assert len(manager.get(LIST, {"state": "pending"}).json()["results"]) == 2
    assert client_factory(outsiders["other_manager"]).get(LIST).json()["results"] == []
    assert manager.get(LIST, {"state": "nonsense"}).status_code == 400


def test_the_list_is_for_every_role_and_shows_only_what_each_may_see(estate, client_factory, outsiders):
    ask(estate)
    expected = {"anonymous": 401, "outsider": 403}
    expected |= {name: 200 for name in ("administrator", "identity_owner", "manager", "compliance_officer",
                                        "security_analyst", "auditor", "other_owner")}  # fmt: skip
    walk(client_factory, estate, outsiders, "get", LIST, expected)
    assert client_factory(outsiders["other_owner"]).get(LIST).json()["results"] == []


def test_one_request_is_a_404_for_those_who_may_not_see_it(estate, client_factory, outsiders):
    made = ask(estate)
    expected = {"anonymous": 401, "outsider": 403, "other_owner": 404, "other_manager": 404}
    expected |= {name: 200 for name in ("administrator", "identity_owner", "manager", "compliance_officer",
                                        "security_analyst", "auditor", "boss")}  # fmt: skip
    walk(client_factory, estate, outsiders, "get", url(made), expected)


def test_who_may_ask(estate, client_factory, outsiders):
    expected = {
        "anonymous": 401,
        "outsider": 403,
        "manager": 403,
        "compliance_officer": 403,
        "security_analyst": 403,
        "auditor": 403,
        "other_owner": 400,  # the identity is not one they see
        "identity_owner": 201,
        "administrator": 200,
    }  # fmt: skip  (an administrator who does not own it)
    walk(client_factory, estate, outsiders, "post", LIST, expected, data=body(estate))
    assert ElevationRequest.objects.count() == 1


def test_who_may_approve(estate, client_factory, outsiders):
    Identity.objects.filter(pk=estate.agent.pk).update(risk_tier="critical")  # two approvers: it stays pending
    made = ask(estate, duration_seconds=1800)
    expected = {"anonymous": 401, "outsider": 403, "other_owner": 404, "other_manager": 404,
                "administrator": 403, "identity_owner": 403, "compliance_officer": 403, "security_analyst": 403,
                "auditor": 403, "manager": 200, "boss": 200}  # fmt: skip
    walk(client_factory, estate, outsiders, "post", url(made, "approve"), expected, data={"comment": "ok"})
    made.refresh_from_db()
    assert made.state == "approved" and made.approvals.count() == 2


def test_who_may_deny(estate, client_factory, outsiders):
    made = ask(estate)
    expected = {"anonymous": 401, "outsider": 403, "other_owner": 404, "other_manager": 404,
                "administrator": 403, "identity_owner": 403, "compliance_officer": 403, "security_analyst": 403,
                "auditor": 403, "boss": 403, "manager": 200}  # fmt: skip
    walk(client_factory, estate, outsiders, "post", url(made, "deny"), expected, data={"comment": "no"})
    made.refresh_from_db()
    assert made.state == "denied"
    again = post(client_factory(estate.cast.manager), url(made, "approve"), {})
    assert again.status_code == 409  # any deny is final


def test_who_may_withdraw(estate, client_factory, outsiders):
    made = ask(estate)
    expected = {"anonymous": 401, "outsider": 403, "other_owner": 404, "other_manager": 404,
                "administrator": 403, "manager": 403, "compliance_officer": 403, "security_analyst": 403,
                "auditor": 403, "identity_owner": 200}  # fmt: skip
    walk(client_factory, estate, outsiders, "post", url(made, "withdraw"), expected, data={"reason": "fixed"})
    made.refresh_from_db()
    assert made.state == "withdrawn"
    assert post(client_factory(estate.cast.identity_owner), url(made, "withdraw"), {}).status_code == 409


def test_who_may_end_the_grant_early(estate, client_factory, outsiders):
    made = ask(estate)
    assert post(client_factory(estate.cast.identity_owner), url(made, "end"), {"reason": "x"}).status_code == 409
    post(client_factory(estate.cast.manager), url(made, "approve"), {"comment": "ok"})
    expected = {"anonymous": 401, "outsider": 403, "other_owner": 404, "other_manager": 404,
                "compliance_officer": 403, "auditor": 403, "security_analyst": 200}  # fmt: skip
    walk(client_factory, estate, outsiders, "post", url(made, "end"), expected, data={"reason": "incident over"})
    answer = client_factory(estate.cast.identity_owner).get(url(made)).json()
    assert answer["granted"]["ended_at"] and answer["granted"]["end_reason"] == "incident over"
    missing = post(client_factory(estate.cast.security_analyst), url(made, "end"), {})
    assert missing.status_code == 400 and "reason" in missing.json()["fields"]


@pytest.mark.parametrize("who", ["identity_owner", "manager"])
def test_an_owner_and_the_approver_may_end_the_grant_too(estate, client_factory, who):
    made = ask(estate)
    post(client_factory(estate.cast.manager), url(made, "approve"), {"comment": "ok"})
    response = post(client_factory(estate.cast[who]), url(made, "end"), {"reason": "done"})
    assert response.status_code == 200 and response.json()["granted"]["ended_at"]


# --- a rule's approver group decides whatever its members' roles (reviews.rules.may_decide) -------------------


@pytest.fixture
def approver_group(estate):
    """The agent's rule names an approver group: a member with no role, and one who is another identity's owner;
    beside them a person with no role outside it, and a no-role member of another rule's group."""
    from django.contrib.auth.models import Group

    from reviews.models import ApprovalRule

    group, elsewhere = Group.objects.create(name="pr-approvers"), Group.objects.create(name="db-approvers")
    ApprovalRule.objects.filter(name="Medium and low identities: one approver").update(approver_group=group)
    ApprovalRule.objects.filter(name="High identity: one approver").update(approver_group=elsewhere)
    member, owner_member = make_person("grouped-nobody"), make_person("grouped-owner", "identity_owner")
    other_member, nobody = make_person("elsewhere-nobody"), make_person("plain-nobody")
    for person, joined in ((member, group), (owner_member, group), (other_member, elsewhere)):
        person.groups.add(joined)
    return {"member": member, "owner_member": owner_member, "other_member": other_member, "nobody": nobody}


def test_a_member_of_the_requests_approver_group_without_a_role_lists_and_decides_it(
    estate, client_factory, approver_group
):
    made, other = ask(estate), ask(estate, task="second")
    client = client_factory(approver_group["member"])
    inbox = client.get(LIST, {"to_decide": "true"})
    assert inbox.status_code == 200, inbox.content
    assert sorted(r["id"] for r in inbox.json()["results"]) == sorted([str(made.uuid), str(other.uuid)])
    assert post(client, url(made, "approve"), {"comment": "ok"}).json()["state"] == "approved"
    assert post(client_factory(approver_group["owner_member"]), url(other, "deny"), {}).json()["state"] == "denied"
    approvers = set(AuditEntry.objects.filter(action__in=["elevation_request.approve", "elevation_request.deny"])
                    .values_list("actor_label", flat=True))  # fmt: skip
    assert approvers == {"grouped-nobody", "grouped-owner"}


def test_nobody_else_without_a_role_reaches_the_api_and_another_groups_member_sees_nothing(
    estate, client_factory, approver_group
):
    made = ask(estate)
    nobody, other_member = client_factory(approver_group["nobody"]), client_factory(approver_group["other_member"])
    for path in (LIST, url(made)):
        assert nobody.get(path).status_code == 403
    assert post(nobody, url(made, "approve"), {}).status_code == 403
    assert post(nobody, url(made, "deny"), {}).status_code == 403
    assert other_member.get(LIST, {"to_decide": "true"}).json()["results"] == []
    assert other_member.get(url(made)).status_code == 404
    assert post(other_member, url(made, "approve"), {}).status_code == 404
    # A member without a role may not ask for access (the identity is not one they may see: unknown to them) or
    # withdraw what others asked.
    refused = post(client_factory(approver_group["member"]), LIST, body(estate, task="theirs"))
    assert refused.status_code == 400 and "identity" in refused.json()["fields"]
    assert post(client_factory(approver_group["member"]), url(made, "withdraw"), {"reason": "x"}).status_code == 403
    made.refresh_from_db()
    assert made.state == "pending" and not made.approvals.exists()
