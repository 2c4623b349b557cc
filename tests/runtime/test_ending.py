"""Ending a task, a grant, an entitlement or a whole identity by any path — registry page, registry API, the
runtime's task endpoint, the kill switch, the import — makes every token that relied on it inactive at
introspect and denied by decide at once. Tokens are real (issued by the exchange); so are the calls."""

from __future__ import annotations

from datetime import timedelta

import jwt
import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from agentiam.errors import Conflict
from audit.models import AuditEntry
from identities import services as registry
from identities.imports.runner import registry_import
from identities.models import Entitlement, Grant, Task
from identities.runtime import services as runtime
from identities.runtime.models import IssuedToken, TokenRevocation
from tests.imports.test_registry_import import make_zip
from tests.runtime_support import (
    ACTOR_SPIFFE_ID,
    JWT_TYPE,
    access_token,
    decide,
    introspect,
    svid,
)

WRITE_PR = {"tool": "github.create_pull_request", "action": "write"}


def standing_read(estate, identity=None) -> Entitlement:
    return Entitlement.objects.get(identity=identity or estate.agent, tool=estate.read_repo, revoked_at__isnull=True)


def live(estate, token: str, **call) -> None:
    assert introspect(estate.credential, token).json()["active"] is True
    body = decide(estate.credential, token, **call).json()
    assert body["decision"] == "allow", body


def ended(estate, token: str, **call) -> None:
    assert introspect(estate.credential, token).json() == {"active": False}
    body = decide(estate.credential, token, **call).json()
    assert body["decision"] == "deny" and "deny-token-inactive" in body["reasons"], body
    jti = jwt.decode(token, options={"verify_signature": False})["jti"]
    assert TokenRevocation.objects.filter(jti=jti).exists()


@pytest.fixture
def jit(estate):
    """A token resting on a JIT grant of its task (write on pull requests), beside one on standing read."""
    read = access_token()
    task = Task.objects.get(uuid=read["task_id"])
    grant = registry.grant_create(
        identity=estate.agent, task=task, entries=[(estate.create_pr, "write", {"repo": "acme/*"})],
        ends_at=timezone.now() + timedelta(minutes=10), actor=estate.cast.manager,
    )  # fmt: skip
    write = access_token(scope="github.create_pull_request:write")["access_token"]
    return grant, write, read["access_token"]


def test_a_token_records_the_entitlements_and_grants_it_relied_on(estate, jit):
    grant, write, read = jit
    rows = {row.jti: row for row in IssuedToken.objects.all()}
    claims = {t: jwt.decode(t, options={"verify_signature": False})["jti"] for t in (write, read)}
    jit_entitlement = Entitlement.objects.get(grant=grant)
    assert (rows[claims[write]].entitlements, rows[claims[write]].grants) == ([jit_entitlement.pk], [grant.pk])
    assert (rows[claims[read]].entitlements, rows[claims[read]].grants) == ([standing_read(estate).pk], [])


# --- a grant ----------------------------------------------------------------------------------------------


def test_ending_a_grant_ends_the_tokens_that_rested_on_it_and_no_other(estate, jit):
    grant, write, read = jit
    live(estate, write, **WRITE_PR)
    runtime.grant_end(grant=grant, actor=estate.cast.security_analyst, reason="done early")
    ended(estate, write, **WRITE_PR)
    live(estate, read)
    entry = AuditEntry.objects.filter(action="grant.end").latest("id")
    assert entry.changes["tokens_revoked"] == 1


# --- a task: registry API and the runtime endpoint --------------------------------------------------------


def test_completing_a_task_through_the_registry_api_ends_its_tokens_and_its_grants_tokens(estate, jit, client_factory):
    grant, write, read = jit
    task = Grant.objects.get(pk=grant.pk).task
    response = client_factory(estate.cast.security_analyst).post(
        f"/api/v1/tasks/{task.uuid}/complete/", {"reason": "incident closed"}, content_type="application/json"
    )
    assert response.status_code == 200, response.content
    ended(estate, write, **WRITE_PR)
    ended(estate, read)
    assert AuditEntry.objects.filter(action="task.complete").latest("id").changes["tokens_revoked"] == 2


def test_completing_a_task_at_the_runtime_endpoint_ends_its_tokens(estate, jit):
    grant, write, read = jit
    task = Grant.objects.get(pk=grant.pk).task
    response = Client().post(f"/api/v1/runtime/tasks/{task.uuid}/complete", HTTP_AUTHORIZATION=f"Bearer {read}")
    assert response.status_code == 200, response.content
    assert response.json()["tokens_revoked"] == 2
    ended(estate, write, **WRITE_PR)
    ended(estate, read)


# --- an entitlement: registry page and API, revoke and replace ---------------------------------------------


def test_revoking_an_entitlement_on_the_registry_page_ends_its_tokens(estate, client_factory):
    token = access_token()["access_token"]
    live(estate, token)
    url = reverse("entitlement_revoke", args=[estate.agent.uuid, standing_read(estate).uuid])
    response = client_factory(estate.cast.identity_owner).post(url, {"reason": "no longer needed"})
    assert response.status_code == 302
    ended(estate, token)


def test_replacing_an_entitlement_on_the_registry_page_ends_its_tokens(estate, client_factory):
    token = access_token()["access_token"]
    url = reverse("entitlement_replace", args=[estate.agent.uuid, standing_read(estate).uuid])
    response = client_factory(estate.cast.identity_owner).post(
        url, {"scope_attr_0": "repo", "scope_pattern_0": "acme/api", "reason": "narrower"}
    )
    assert response.status_code == 302
    ended(estate, token)
    live(estate, access_token()["access_token"])  # the replacement covers a new token


def test_revoking_an_entitlement_through_the_api_ends_its_tokens(estate, client_factory):
    token = access_token()["access_token"]
    response = client_factory(estate.cast.identity_owner).post(
        f"/api/v1/entitlements/{standing_read(estate).uuid}/revoke/",
        {"reason": "unused"},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    ended(estate, token)


def test_replacing_an_entitlement_through_the_api_ends_its_tokens(estate, client_factory):
    token = access_token()["access_token"]
    response = client_factory(estate.cast.identity_owner).post(
        f"/api/v1/entitlements/{standing_read(estate).uuid}/replace/",
        {"scope": {"repo": "acme/api"}, "reason": "narrower"},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    ended(estate, token)


def test_revoking_the_actors_entitlement_ends_a_delegated_token(estate):
    runtime.delegation_rule_create(
        actor=estate.cast.administrator, actor_identity=estate.orchestrator, subject=estate.agent
    )
    token = access_token(actor_token=svid(ACTOR_SPIFFE_ID), actor_token_type=JWT_TYPE)["access_token"]
    live(estate, token)
    runtime.entitlement_revoke(
        entitlement=standing_read(estate, estate.orchestrator), actor=estate.cast.identity_owner, reason="unused"
    )
    ended(estate, token)


def test_an_import_that_replaces_an_entitlement_ends_its_tokens(estate, tmp_path, settings):
    settings.VAR_DIR = tmp_path
    row = {
        "external_id": "e-pr-read",
        "identity": str(estate.agent.uuid),
        "tool": str(estate.create_pr.uuid),
        "action": "read",
        "scope": '{"repo": "acme/*"}',
    }
    first = registry_import(
        path=make_zip(tmp_path, "first.zip", entitlements__csv=[row]), actor=estate.cast.administrator
    )
    assert first.ok, first.report.problems
    token = access_token(scope="github.create_pull_request:read")["access_token"]
    read_pr = {"tool": "github.create_pull_request", "action": "read"}
    live(estate, token, **read_pr)
    row["scope"] = '{"repo": "acme/api"}'
    result = registry_import(
        path=make_zip(tmp_path, "second.zip", entitlements__csv=[row]), actor=estate.cast.administrator
    )
    assert result.ok, result.report.problems
    assert result.counts["entitlements"]["replaced"] == 1 and result.counts["entitlements"]["tokens_revoked"] == 1
    ended(estate, token, **read_pr)
    live(estate, access_token()["access_token"])  # a token on other entitlements is untouched


# --- the kill switch: registry page and API ----------------------------------------------------------------


def test_suspending_on_the_registry_page_ends_every_token_of_the_identity(estate, jit, client_factory):
    _, write, read = jit
    response = client_factory(estate.cast.security_analyst).post(
        reverse("identity_suspend", args=[estate.agent.uuid]), {"reason": "anomalous calls"}
    )
    assert response.status_code == 302
    ended(estate, write, **WRITE_PR)
    ended(estate, read)
    assert AuditEntry.objects.filter(action="identity.suspend").latest("id").changes["tokens_revoked"] == 2


def test_suspending_through_the_api_ends_every_token_of_the_identity(estate, jit, client_factory):
    _, write, read = jit
    response = client_factory(estate.cast.security_analyst).post(
        f"/api/v1/identities/{estate.agent.uuid}/suspend/", {"reason": "anomalous"}, content_type="application/json"
    )
    assert response.status_code == 200, response.content
    ended(estate, write, **WRITE_PR)
    ended(estate, read)


def test_a_refused_ending_revokes_nothing(estate, jit):
    grant, _, _ = jit
    runtime.grant_end(grant=grant, actor=estate.cast.security_analyst, reason="done")
    before = TokenRevocation.objects.count()
    with pytest.raises(Conflict):
        runtime.grant_end(grant=grant, actor=estate.cast.security_analyst, reason="again")
    assert TokenRevocation.objects.count() == before


# --- an access review's decision (reviews' fulfilment) ---------------------------------------------------------


def test_a_certified_revocation_needs_no_rights_on_the_identity_and_ends_credential_and_tokens_together(estate):
    from django.core.exceptions import PermissionDenied

    from audit import actors
    from identities.models import Credential
    from tests.factories import CredentialFactory

    entitlement = standing_read(estate)
    credential = CredentialFactory(holders=[estate.agent], entitlements=[entitlement])
    token = access_token()["access_token"]
    live(estate, token)
    with pytest.raises(PermissionDenied):  # a manager has no right to revoke, unless a review decided it
        runtime.entitlement_revoke(entitlement=entitlement, actor=estate.cast.manager, reason="unused")
    job = actors.job("reviews.fulfilment")
    runtime.entitlement_revoke(entitlement=entitlement, actor=job, reason="unused", certified="review item 1234")
    ended(estate, token)
    entitlement.refresh_from_db()
    assert entitlement.revoked_at is not None and entitlement.revoked_by is None
    assert Credential.objects.get(pk=credential.pk).revocation_status == "requested"
    entry = AuditEntry.objects.get(action="entitlement.revoke", object_id=str(entitlement.uuid))
    assert entry.changes["certified"] == "review item 1234" and entry.changes["tokens_revoked"] == 1
    assert entry.actor_kind == "job" and entry.actor_label == "reviews.fulfilment"
    with pytest.raises(Exception, match="certified"):
        runtime.entitlement_revoke(entitlement=standing_read(estate, estate.orchestrator), actor=job, reason="x",
                                   certified=" ")  # fmt: skip
