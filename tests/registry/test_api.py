"""The registry API: every endpoint for anonymous / wrong role / another owner's object / allowed, writes
through the services, the error shape of their refusals, lean queries, and import over HTTP."""

from __future__ import annotations

import io
import time
import zipfile
from datetime import timedelta

import pytest
from django.test.client import MULTIPART_CONTENT
from django.utils import timezone

from agentiam.permissions import ALL_ROLES, Role
from agentiam.stepup import SESSION_AT, SESSION_USER
from audit.models import AuditEntry
from identities import services
from identities.models import Credential, Entitlement, Identity, ImportJob, Ownership, Task, Workflow
from identities.runtime.services import ending
from tests.cast import check_access, make_person
from tests.factories import SystemFactory

pytestmark = pytest.mark.django_db

EVERY_ROLE = [role.value for role in ALL_ROLES]
OWNER_AND_ADMIN = [Role.ADMINISTRATOR, Role.IDENTITY_OWNER]


@pytest.fixture(autouse=True)
def uploads_in_tmp(settings, tmp_path):
    """Uploaded ZIPs wait under VAR_DIR/imports: keep this test's in its own folder."""
    settings.VAR_DIR = tmp_path


def url(resource: str, obj=None, verb: str = "") -> str:
    path = f"/api/v1/{resource}/"
    if obj is not None:
        path += f"{obj.uuid}/"
    return path + (f"{verb}/" if verb else "")


# --- reads: every resource, every role ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "resource",
    [
        "identities",
        "identifiers",
        "ownerships",
        "acceptable-use",
        "systems",
        "tools",
        "entitlements",
        "exceptions",
        "credentials",
        "workflows",
        "tasks",
        "import",
    ],
)
def test_every_registry_list_is_for_people_with_a_role(cast, client_factory, resource):
    check_access(client_factory, f"/api/v1/{resource}/", cast=cast, allowed=EVERY_ROLE)


def test_an_identity_is_visible_to_its_owner_their_manager_and_the_see_everything_roles(
    cast, client_factory, agent, other_owner
):
    check_access(client_factory, url("identities", agent), cast=cast, allowed=EVERY_ROLE, object_denied=[other_owner])


def test_owners_list_only_what_they_own(cast, client_factory, agent, other_owner):
    services.identity_create(actor=other_owner, kind="agent", name="not-mine", environment="dev")
    names = [row["name"] for row in client_factory(cast.identity_owner).get("/api/v1/identities/").json()["results"]]
    assert names == ["triage-bot"]
    assert len(client_factory(cast.auditor).get("/api/v1/identities/").json()["results"]) == 2


@pytest.fixture
def estate(cast, agent, tool):
    """One of everything about the agent, for the detail endpoints."""
    entitlement = services.entitlement_grant(identity=agent, tool=tool, action="read", actor=cast.identity_owner)
    identifier = services.identifier_add(
        identity=agent, actor=cast.identity_owner, kind="spiffe", value="spiffe://acme.org/triage"
    )
    credential = services.credential_register(
        actor=cast.identity_owner,
        holders=[agent],
        entitlements=[entitlement],
        name="gh",
        kind="api_key",
        fingerprint="ab" * 32,
        issued_at=timezone.now(),
    )
    aup = services.aup_add_version(
        identity=agent, actor=cast.identity_owner, purpose="triage issues", allowed_tools=["github.*"], data_classes=[]
    )
    write = services.entitlement_grant(identity=agent, tool=tool, action="write", actor=cast.administrator)
    exception = services.exception_accept(
        entitlement=write, actor=cast.administrator, reason="accepted", valid_until=timezone.now() + timedelta(days=9)
    )
    workflow = Workflow.objects.create(name="issue-triage")
    services.workflow_attach(identity=agent, workflow=workflow, actor=cast.identity_owner)
    task = services.task_open(identity=agent, name="run-1")
    return {
        "identifiers": identifier,
        "ownerships": Ownership.objects.get(identity=agent),
        "acceptable-use": aup,
        "entitlements": entitlement,
        "exceptions": exception,
        "credentials": credential,
        "workflows": workflow,
        "tasks": task,
    }


@pytest.mark.parametrize(
    "resource",
    ["identifiers", "ownerships", "acceptable-use", "entitlements", "exceptions", "credentials", "workflows", "tasks"],
)
def test_what_is_about_an_identity_is_404_for_another_owner(cast, client_factory, estate, other_owner, resource):
    check_access(
        client_factory, url(resource, estate[resource]), cast=cast, allowed=EVERY_ROLE, object_denied=[other_owner]
    )


def test_systems_and_tools_are_read_by_everyone_with_a_role(cast, client_factory, tool):
    check_access(client_factory, url("tools", tool), cast=cast, allowed=EVERY_ROLE)
    check_access(client_factory, url("systems", tool.system), cast=cast, allowed=EVERY_ROLE)


def test_an_import_job_is_seen_by_its_uploader_and_the_roles_that_see_everything(cast, client_factory, other_owner):
    job = ImportJob.objects.create(created_by=cast.identity_owner, sha256="0" * 64, size=1, path="/nowhere")
    path = f"/api/v1/import/{job.uuid}/"
    assert client_factory().get(path).status_code == 401
    for who in ("identity_owner", "administrator", "compliance_officer", "security_analyst", "auditor"):
        assert client_factory(cast[who]).get(path).status_code == 200, who
    for user in (cast.manager, other_owner):
        assert client_factory(user).get(path).status_code == 404
    assert client_factory(cast.outsider).get(path).status_code == 403


def test_the_identity_page_of_the_api_says_why_the_tier_and_who_owns_it(cast, client_factory, estate, agent):
    data = client_factory(cast.auditor).get(url("identities", agent)).json()
    assert data["id"] == str(agent.uuid) and data["risk_tier"] == "medium"
    assert [reason["code"] for reason in data["risk_reasons"]] == ["standing_write"]
    assert [o["person"]["username"] for o in data["owners"]] == ["cast-identity_owner"]
    assert data["identifiers"][0]["value"] == "spiffe://acme.org/triage"
    assert data["workflows"] == ["issue-triage"]
    assert "id" in data["accountable_owner"] and "pk" not in data


# --- identities: create, change, suspend, resume, override ------------------------------------------------------


def test_owners_and_administrators_register_identities_and_the_rest_are_refused(cast, client_factory):
    def body(who):
        return {"kind": "agent", "name": f"bot-of-{who}", "environment": "dev", "capabilities": ["delegates"]}

    seen = check_access(
        client_factory,
        "/api/v1/identities/",
        cast=cast,
        method="post",
        data=body,
        allowed=OWNER_AND_ADMIN,
        expect_allowed=(201,),
    )
    assert seen["security_analyst"] == 403  # may suspend, not register
    mine = Identity.objects.get(name="bot-of-identity_owner")
    assert Ownership.objects.get(identity=mine).person == cast.identity_owner and mine.risk_tier == "medium"


def test_a_bad_field_is_a_400_naming_it(cast, client_factory):
    response = client_factory(cast.identity_owner).post(
        "/api/v1/identities/", {"kind": "robot", "name": "x", "environment": "dev"}, content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid" and "kind" in response.json()["fields"]


def test_an_owner_changes_their_identity_and_risk_follows(cast, client_factory, agent, other_owner):
    body = {"environment": "prod", "capabilities": ["generates_code"]}
    seen = check_access(
        client_factory,
        url("identities", agent),
        cast=cast,
        method="patch",
        data=body,
        allowed=OWNER_AND_ADMIN,
        object_denied=[other_owner],
    )
    assert seen["security_analyst"] == 403
    agent.refresh_from_db()
    assert agent.risk_tier == "high" and agent.environment == "prod"


def test_suspend_is_for_administrators_analysts_and_owners_and_a_second_one_conflicts(cast, client_factory, agent):
    seen = check_access(
        client_factory,
        url("identities", agent, "suspend"),
        cast=cast,
        method="post",
        data={"reason": "anomaly"},
        allowed=[Role.ADMINISTRATOR, Role.IDENTITY_OWNER, Role.SECURITY_ANALYST],
        expect_allowed=(200, 409),
    )
    assert seen["administrator"] == 200 and seen["identity_owner"] == 409
    response = client_factory(cast.security_analyst).post(
        url("identities", agent, "suspend"), {"reason": "again"}, content_type="application/json"
    )
    assert response.json() == {
        "error": "conflict",
        "detail": services.ERR_ALREADY_SUSPENDED,
        "fields": {},
    }


def test_suspending_through_the_api_reports_what_it_ended(cast, client_factory, agent, tool):
    task = services.task_open(identity=agent, name="fix")
    services.grant_create(
        identity=agent,
        task=task,
        entries=[(tool, "write", {})],
        ends_at=timezone.now() + timedelta(hours=1),
        actor=cast.manager,
    )
    response = client_factory(cast.identity_owner).post(
        url("identities", agent, "suspend"), {"reason": "pulled"}, content_type="application/json"
    )
    assert response.status_code == 200
    assert response.json()["ended"] == {"jit_entitlements": 1, "grants": 1, "tasks": 1, "credentials": 0}
    assert response.json()["identity"]["status"] == "suspended"


def stepped_up(client, user):
    session = client.session
    session[SESSION_AT], session[SESSION_USER] = int(time.time()), user.pk
    session.save()
    return client


def test_resume_needs_a_step_up_and_an_api_token_never_has_one(cast, client_factory, agent):
    ending.identity_suspend(identity=agent, actor=cast.identity_owner, reason="pulled")
    path = url("identities", agent, "resume")
    response = client_factory(cast.security_analyst).post(path, {"reason": "ok"}, content_type="application/json")
    assert response.status_code == 403 and response.json()["error"] == "step_up_required"
    _, secret = services.api_token_create(actor=cast.security_analyst, name="ci")
    client = stepped_up(client_factory(cast.security_analyst), cast.security_analyst)
    token = client.post(path, {"reason": "ok"}, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert token.status_code == 403 and token.json()["error"] == "step_up_required"
    owner = stepped_up(client_factory(cast.identity_owner), cast.identity_owner)
    assert owner.post(path, {"reason": "mine"}, content_type="application/json").status_code == 403
    response = client.post(path, {"reason": "investigated"}, content_type="application/json")
    assert response.status_code == 200 and response.json()["status"] == "active"


def test_a_tier_override_is_for_an_administrator_who_does_not_own_it(cast, client_factory, agent, other_owner):
    seen = check_access(
        client_factory,
        url("identities", agent, "tier-override"),
        cast=cast,
        method="post",
        data={"tier": "high", "reason": "handles payroll"},
        allowed=[Role.ADMINISTRATOR],
        object_denied=[other_owner],
    )
    assert seen["identity_owner"] == 403
    agent.refresh_from_db()
    assert agent.risk_tier == "high" and agent.derived_tier == "low"
    response = client_factory(cast.administrator).post(
        url("identities", agent, "tier-override"), {"tier": None, "reason": "done"}, content_type="application/json"
    )
    assert response.json()["risk_tier"] == "low"


# --- identifiers, ownerships, acceptable use, workflows -------------------------------------------------------


def test_identifiers_are_added_by_owners_and_administrators_and_spiffe_ids_are_checked(cast, client_factory, agent):
    def body(who):
        return {"identity": str(agent.uuid), "kind": "agent_id", "value": f"agent-{who}"}

    check_access(
        client_factory,
        "/api/v1/identifiers/",
        cast=cast,
        method="post",
        data=body,
        allowed=OWNER_AND_ADMIN,
        expect_allowed=(201,),
    )
    bad = client_factory(cast.identity_owner).post(
        "/api/v1/identifiers/",
        {"identity": str(agent.uuid), "kind": "spiffe", "value": "spiffe://Acme.org/x"},
        content_type="application/json",
    )
    assert bad.status_code == 400 and "value" in bad.json()["fields"]
    identifier = agent.identifiers.first()
    assert client_factory(cast.identity_owner).delete(url("identifiers", identifier)).status_code == 204


def test_another_owners_identity_cannot_be_referenced_in_a_body(cast, client_factory, other_owner, agent):
    response = client_factory(other_owner).post(
        "/api/v1/identifiers/",
        {"identity": str(agent.uuid), "kind": "agent_id", "value": "sneaky"},
        content_type="application/json",
    )
    assert response.status_code == 400 and response.json()["fields"]["identity"]


def test_ownership_is_assigned_ended_and_transferred_in_bulk(cast, client_factory, agent, other_owner):
    client = client_factory(cast.identity_owner)
    response = client.post(
        "/api/v1/ownerships/",
        {"identity": str(agent.uuid), "person": str(other_owner.profile.uuid), "role": "technical"},
        content_type="application/json",
    )
    assert response.status_code == 201 and response.json()["person"]["username"] == "other-owner"
    technical = Ownership.objects.get(identity=agent, role="technical")
    assert client.post(
        url("ownerships", technical, "end"), {"reason": "moved"}, content_type="application/json"
    ).json()["valid_to"]
    response = client_factory(cast.administrator).post(
        "/api/v1/ownerships/transfer/",
        {"identities": [str(agent.uuid)], "to": str(other_owner.profile.uuid), "reason": "team change"},
        content_type="application/json",
    )
    assert response.json() == {"transferred": 1}
    assert client.get(url("identities", agent)).status_code == 404  # no longer theirs


def test_acceptable_use_versions_are_added_by_the_accountable_owner(cast, client_factory, agent):
    body = {"identity": str(agent.uuid), "purpose": "triage", "allowed_tools": ["github.*"], "data_classes": []}
    check_access(
        client_factory,
        "/api/v1/acceptable-use/",
        cast=cast,
        method="post",
        data=body,
        allowed=[Role.IDENTITY_OWNER],
        expect_allowed=(201,),
    )
    agent.refresh_from_db()
    assert "aup_missing" not in agent.flags


def test_an_identity_is_attached_to_a_workflow(cast, client_factory, agent):
    workflow = Workflow.objects.create(name="release")
    response = client_factory(cast.identity_owner).post(
        url("workflows", workflow, "attach"), {"identity": str(agent.uuid)}, content_type="application/json"
    )
    assert response.status_code == 200 and response.json()["identities"] == [str(agent.uuid)]


# --- systems, tools, entitlements, exceptions -------------------------------------------------------------------


def test_systems_and_tools_are_added_and_changed_by_administrators(cast, client_factory):
    check_access(
        client_factory,
        "/api/v1/systems/",
        cast=cast,
        method="post",
        data=lambda who: {"name": f"GitHub {who}", "kind": "saas"},
        allowed=[Role.ADMINISTRATOR],
        expect_allowed=(201,),
    )
    system = SystemFactory(name="Jira")
    check_access(
        client_factory,
        "/api/v1/tools/",
        cast=cast,
        method="post",
        data=lambda who: {"system": str(system.uuid), "key": f"jira.{who}", "name": "Search", "actions": ["read"]},
        allowed=[Role.ADMINISTRATOR],
        expect_allowed=(201,),
    )
    tool = system.tools.first()
    response = client_factory(cast.administrator).patch(
        url("tools", tool), {"production": True}, content_type="application/json"
    )
    assert response.status_code == 200 and response.json()["production"] is True


def test_who_grants_what_holds_through_the_api(cast, client_factory, agent, tool, other_owner):
    def body(action):
        return {"identity": str(agent.uuid), "tool": str(tool.uuid), "action": action, "scope": {"repo": "acme/*"}}

    owner, admin = client_factory(cast.identity_owner), client_factory(cast.administrator)
    read = owner.post("/api/v1/entitlements/", body("read"), content_type="application/json")
    assert read.status_code == 201 and read.json()["scope"] == {"repo": "acme/*"} and read.json()["source"] == "manual"
    refused = owner.post("/api/v1/entitlements/", body("write"), content_type="application/json")
    assert refused.status_code == 403 and refused.json()["detail"] == services.ERR_READ_ONLY_OWNER
    assert admin.post("/api/v1/entitlements/", body("write"), content_type="application/json").status_code == 201
    duplicate = admin.post("/api/v1/entitlements/", body("write"), content_type="application/json")
    assert duplicate.status_code == 409 and duplicate.json()["error"] == "conflict"
    stranger = client_factory(other_owner).post("/api/v1/entitlements/", body("read"), content_type="application/json")
    assert stranger.status_code == 400 and "identity" in stranger.json()["fields"]


def test_standing_write_on_a_high_risk_identity_needs_an_exception(cast, client_factory, agent, tool):
    services.identity_update(
        identity=agent, actor=cast.identity_owner, environment="prod", capabilities=["generates_code"]
    )
    body = {"identity": str(agent.uuid), "tool": str(tool.uuid), "action": "write"}
    admin = client_factory(cast.administrator)
    refused = admin.post("/api/v1/entitlements/", body, content_type="application/json")
    assert refused.status_code == 400 and "exception_reason" in refused.json()["fields"]
    until = (timezone.now() + timedelta(days=30)).isoformat()
    granted = admin.post(
        "/api/v1/entitlements/",
        {**body, "exception_reason": "release bot", "exception_until": until},
        content_type="application/json",
    )
    assert granted.status_code == 201
    exceptions = admin.get(f"/api/v1/exceptions/?entitlement={granted.json()['id']}").json()["results"]
    assert exceptions[0]["accepted_by"] == "cast-administrator"


def test_an_entitlement_cannot_be_edited_or_deleted_through_the_api(cast, client_factory, estate):
    entitlement = estate["entitlements"]
    for method in ("put", "patch", "delete"):
        for user in (cast.administrator, cast.identity_owner):
            response = getattr(client_factory(user), method)(
                url("entitlements", entitlement), {"scope": {"repo": "*"}}, content_type="application/json"
            )
            assert response.status_code == 405, (method, user)
            assert response.json()["error"] == "method_not_allowed"
    assert Entitlement.objects.get(pk=entitlement.pk).scope == {}


def test_a_changed_scope_is_a_replacement_and_the_old_one_is_revoked(cast, client_factory, estate, other_owner):
    old = estate["entitlements"]
    check_access(
        client_factory,
        url("entitlements", old, "replace"),
        cast=cast,
        method="post",
        data={"scope": {"repo": "acme/web"}, "reason": "narrower"},
        allowed=OWNER_AND_ADMIN,
        expect_allowed=(201, 409),
        object_denied=[other_owner],
    )
    old.refresh_from_db()
    new = Entitlement.objects.get(identity=old.identity, action="read", revoked_at__isnull=True)
    assert old.revoked_at is not None and old.scope == {} and new.scope == {"repo": "acme/web"}
    again = client_factory(cast.identity_owner).post(
        url("entitlements", old, "revoke"), {"reason": "x"}, content_type="application/json"
    )
    assert again.status_code == 409


def test_revoking_requests_revocation_of_the_credential_it_was_the_last_for(cast, client_factory, estate):
    client = client_factory(cast.identity_owner)
    response = client.post(
        url("entitlements", estate["entitlements"], "revoke"), {"reason": "unused"}, content_type="application/json"
    )
    assert response.status_code == 200 and response.json()["active"] is False
    assert client.get(url("credentials", estate["credentials"])).json()["revocation_status"] == "requested"


def test_exceptions_are_accepted_by_an_administrator_who_does_not_own_the_identity(cast, client_factory, agent, tool):
    write = services.entitlement_grant(identity=agent, tool=tool, action="write", actor=cast.administrator)
    body = {
        "entitlement": str(write.uuid),
        "reason": "accepted",
        "valid_until": (timezone.now() + timedelta(days=7)).isoformat(),
    }
    check_access(
        client_factory,
        "/api/v1/exceptions/",
        cast=cast,
        method="post",
        data=body,
        allowed=[Role.ADMINISTRATOR],
        expect_allowed=(201,),
    )


# --- credentials and tasks ---------------------------------------------------------------------------------------


def test_credentials_are_registered_by_fingerprint_and_their_revocation_is_tracked(cast, client_factory, agent):
    client = client_factory(cast.identity_owner)
    body = {
        "name": "deploy key",
        "kind": "ssh_key",
        "fingerprint": "CD" * 32,
        "issued_at": timezone.now().isoformat(),
        "holders": [str(agent.uuid)],
    }
    created = client.post("/api/v1/credentials/", body, content_type="application/json")
    assert created.status_code == 201 and created.json()["fingerprint"] == "cd" * 32
    credential = Credential.objects.get(uuid=created.json()["id"])
    bad = client.post("/api/v1/credentials/", {**body, "fingerprint": "secret!"}, content_type="application/json")
    assert bad.status_code == 400 and "fingerprint" in bad.json()["fields"]
    requested = client.post(
        url("credentials", credential, "request-revocation"), {"reason": "leaked"}, content_type="application/json"
    )
    assert requested.json()["revocation_status"] == "requested"
    resolved = client.post(
        url("credentials", credential, "resolve-revocation"), {"confirmed": True}, content_type="application/json"
    )
    assert resolved.json()["revocation_status"] == "confirmed"
    assert (
        client_factory(cast.auditor)
        .post(url("credentials", credential, "request-revocation"), {"reason": "x"}, content_type="application/json")
        .status_code
        == 403
    )


def test_a_task_is_completed_by_an_analyst_or_its_owner_and_its_jit_access_ends(
    cast, client_factory, agent, tool, other_owner
):
    task = services.task_open(identity=agent, name="deploy")
    grant = services.grant_create(
        identity=agent,
        task=task,
        entries=[(tool, "write", {})],
        ends_at=timezone.now() + timedelta(hours=1),
        actor=cast.manager,
    )
    seen = check_access(
        client_factory,
        url("tasks", task, "complete"),
        cast=cast,
        method="post",
        data={"reason": "done"},
        allowed=[Role.ADMINISTRATOR, Role.IDENTITY_OWNER, Role.SECURITY_ANALYST],
        expect_allowed=(200, 409),
        object_denied=[other_owner],
    )
    assert seen["administrator"] == 200
    assert Task.objects.get(pk=task.pk).state == "completed"
    assert not Entitlement.objects.filter(grant=grant, revoked_at__isnull=True).exists()


def test_an_administrator_who_owns_the_identity_cannot_end_its_tasks_through_the_api(client_factory, tool):
    admin_owner = make_person("admin-owner", Role.ADMINISTRATOR)
    mine = services.identity_create(
        actor=admin_owner, accountable_owner=None, kind="agent", name="a", environment="dev"
    )
    Ownership.objects.create(identity=mine, person=admin_owner, role="accountable", valid_from=timezone.now())
    task = services.task_open(identity=mine, name="t")
    response = client_factory(admin_owner).post(url("tasks", task, "complete"), {}, content_type="application/json")
    assert (
        response.status_code == 403
        and response.json()["detail"]
        == "Only a security analyst, or someone who may change this identity, may end its tasks."
    )


# --- lean lists ----------------------------------------------------------------------------------------------------


def _queries_for(client, path, django_assert_max_num_queries, limit):
    with django_assert_max_num_queries(limit) as captured:
        response = client.get(path)
    assert response.status_code == 200
    return len(captured.captured_queries), len(response.json()["results"])


@pytest.mark.parametrize(
    "path", ["/api/v1/identities/", "/api/v1/entitlements/", "/api/v1/credentials/", "/api/v1/ownerships/"]
)
@pytest.mark.parametrize("who", ["auditor", "identity_owner"])
def test_a_list_costs_the_same_for_2_rows_and_for_50(
    cast, client_factory, tool, django_assert_max_num_queries, path, who
):
    def grow(to: int):
        while Identity.objects.count() < to:
            n = Identity.objects.count()
            identity = services.identity_create(
                actor=cast.identity_owner, kind="agent", name=f"bot-{n}", environment="dev"
            )
            e = services.entitlement_grant(identity=identity, tool=tool, action="read", actor=cast.identity_owner)
            services.credential_register(
                actor=cast.identity_owner,
                holders=[identity],
                entitlements=[e],
                name="k",
                kind="api_key",
                fingerprint=f"{n:064x}",
                issued_at=timezone.now(),
            )

    client = client_factory(cast[who])
    grow(2)
    few = _queries_for(client, path, django_assert_max_num_queries, 12)
    grow(50)
    many = _queries_for(client, path, django_assert_max_num_queries, 12)
    assert few[1] == 2 and many[1] == 50
    assert few[0] == many[0]


# --- import and export over HTTP ------------------------------------------------------------------------------


def registry_zip(**files: str) -> io.BytesIO:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    buffer.seek(0)
    buffer.name = "registry.zip"
    return buffer


IDENTITIES_CSV = "external_id,kind,name,environment\ncmdb-1,agent,imported-bot,dev\n"


def test_an_upload_answers_202_with_a_job_that_the_task_then_runs(
    cast, client_factory, django_capture_on_commit_callbacks
):
    from identities.imports.jobs import import_job_run

    client = client_factory(cast.administrator)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(
            "/api/v1/import/?dry_run=true", {"file": registry_zip(**{"identities.csv": IDENTITIES_CSV})}
        )
    assert response.status_code == 202, response.content
    job = ImportJob.objects.get(uuid=response.json()["id"])
    assert response.json()["status"] == "queued" and job.dry_run and len(callbacks) == 1
    assert response["Location"].endswith(f"/registry/imports/{job.uuid}/")
    assert import_job_run(job.pk) == "succeeded"
    assert import_job_run(job.pk) is None  # a second delivery does nothing
    data = client.get(f"/api/v1/import/{job.uuid}/").json()
    assert data["counts"]["identities"]["created"] == 1 and data["progress"] == {"phase": "done"}
    assert not Identity.objects.filter(external_id="cmdb-1").exists()  # a dry run writes nothing


def test_import_jobs_are_for_owners_and_administrators_to_start(cast, client_factory):
    check_access(
        client_factory,
        "/api/v1/import/",
        cast=cast,
        method="post",
        data=lambda who: {"file": registry_zip(**{"identities.csv": IDENTITIES_CSV})},
        content_type=MULTIPART_CONTENT,
        allowed=OWNER_AND_ADMIN,
        expect_allowed=(202,),
    )


def test_an_upload_over_the_limit_is_a_413_in_the_error_shape(cast, client_factory, settings):
    settings.IMPORT_MAX_BYTES = 2048
    settings.UPLOAD_LIMITS = {"/api/v1/import/": 2048}
    big = registry_zip(**{"identities.csv": IDENTITIES_CSV + "".join(f"x{i},agent,n{i},dev\n" for i in range(400))})
    response = client_factory(cast.administrator).post("/api/v1/import/", {"file": big})
    assert response.status_code == 413 and response.json()["error"] == "request_too_large"
    assert not ImportJob.objects.exists()


def test_the_export_is_a_zip_in_the_import_format_of_what_the_caller_sees(cast, client_factory, estate, other_owner):
    services.identity_create(actor=other_owner, kind="agent", name="hidden", environment="dev")
    response = client_factory(cast.identity_owner).get("/api/v1/import/export/")
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))) as archive:
        identities = archive.read("identities.csv").decode()
        assert "triage-bot" in identities and "hidden" not in identities
        assert archive.read("entitlements.csv").decode().count("\n") == 3  # header + read + write
    assert not AuditEntry.objects.filter(action="registry.import").exists()
