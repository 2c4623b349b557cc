"""Registry services: who may change what, risk kept current, immutable entitlements, the kill switch."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from agentiam.errors import Conflict
from audit.models import AuditEntry
from identities import services
from identities.models import Credential, Entitlement, Grant, Identity, Ownership, RiskException, Task
from identities.runtime.services import ending
from tests.cast import make_person

pytestmark = pytest.mark.django_db


def test_an_owner_registers_an_agent_and_becomes_its_accountable_owner(cast, agent):
    assert Ownership.objects.get(identity=agent).person == cast.identity_owner
    assert not agent.is_orphaned
    assert agent.risk_tier == "low"
    assert "aup_missing" in agent.flags
    assert AuditEntry.objects.filter(action="identity.create", object_id=str(agent.uuid)).exists()


def test_risk_is_recomputed_in_the_same_transaction_as_its_inputs(cast, agent):
    updated = services.identity_update(
        identity=agent, actor=cast.identity_owner, environment="prod", capabilities=["generates_code"]
    )
    assert updated.risk_tier == "high"
    assert Identity.objects.filter(pk=agent.pk, risk_tier="high").exists()
    assert any(reason["code"] == "generates_code" for reason in updated.risk_reasons)


def test_owners_grant_standing_read_but_never_write_on_their_own_identity(cast, agent, tool):
    read = services.entitlement_grant(
        identity=agent, tool=tool, action="read", actor=cast.identity_owner, scope={"repo": "acme/*"}
    )
    assert read.mode == "standing" and read.scope == {"repo": "acme/*"}
    with pytest.raises(PermissionDenied):
        services.entitlement_grant(identity=agent, tool=tool, action="write", actor=cast.identity_owner)


def test_an_administrator_who_owns_the_identity_cannot_grant_it_standing_write(cast, agent, tool):
    admin_owner = make_person("admin-owner", "administrator", "identity_owner")
    own = services.identity_create(
        actor=admin_owner,
        accountable_owner=admin_owner,
        kind="agent",
        name="mine",
        environment="dev",
        exposure="internal",
    )
    with pytest.raises(PermissionDenied):
        services.entitlement_grant(identity=own, tool=tool, action="write", actor=admin_owner)
    with pytest.raises(PermissionDenied):
        services.tier_override_set(identity=own, actor=admin_owner, tier="high", reason="testing")


def test_standing_write_on_a_high_risk_identity_needs_an_exception(cast, agent, tool):
    services.identity_update(
        identity=agent, actor=cast.identity_owner, environment="prod", capabilities=["modifies_infrastructure"]
    )
    with pytest.raises(ValidationError) as refused:
        services.entitlement_grant(identity=agent, tool=tool, action="write", actor=cast.administrator)
    assert "exception_reason" in refused.value.message_dict
    assert not Entitlement.objects.filter(identity=agent).exists()
    until = timezone.now() + timedelta(days=30)
    granted = services.entitlement_grant(
        identity=agent,
        tool=tool,
        action="write",
        actor=cast.administrator,
        exception_reason="release automation",
        exception_until=until,
    )
    exception = RiskException.objects.get(entitlement=granted)
    assert exception.accepted_by == cast.administrator and exception.valid_until == until


def test_entitlements_cannot_be_edited_even_behind_the_services_back(cast, agent, tool):
    entitlement = services.entitlement_grant(identity=agent, tool=tool, action="read", actor=cast.identity_owner)
    with pytest.raises(DatabaseError, match="immutable"), transaction.atomic():
        Entitlement.objects.filter(pk=entitlement.pk).update(scope={"repo": "*"})
    with pytest.raises(DatabaseError, match="never deleted"), transaction.atomic():
        Entitlement.objects.filter(pk=entitlement.pk).delete()


def test_a_changed_scope_is_a_new_entitlement_and_the_old_one_is_revoked(cast, agent, tool):
    old = services.entitlement_grant(
        identity=agent, tool=tool, action="read", actor=cast.identity_owner, scope={"repo": "acme/api"}
    )
    new = ending.entitlement_replace(
        entitlement=old, actor=cast.identity_owner, scope={"repo": "acme/web"}, reason="moved repository"
    )
    old.refresh_from_db()
    assert old.revoked_at is not None and old.scope == {"repo": "acme/api"}
    assert new.pk != old.pk and new.scope == {"repo": "acme/web"} and new.revoked_at is None
    with pytest.raises(DatabaseError, match="already revoked"), transaction.atomic():
        Entitlement.objects.filter(pk=old.pk).update(revoke_reason="rewritten")


def test_revoking_the_last_entitlement_a_credential_carries_requests_its_revocation(cast, agent, tool):
    entitlement = services.entitlement_grant(identity=agent, tool=tool, action="read", actor=cast.identity_owner)
    credential = services.credential_register(
        actor=cast.identity_owner,
        holders=[agent],
        entitlements=[entitlement],
        name="gh token",
        kind="api_key",
        fingerprint="ab" * 32,
        issued_at=timezone.now(),
    )
    ending.entitlement_revoke(entitlement=entitlement, actor=cast.identity_owner, reason="not needed")
    credential.refresh_from_db()
    assert credential.revocation_status == "requested"


@pytest.fixture
def busy_agent(cast, agent, tool):
    task = services.task_open(identity=agent, name="fix-ci")
    grant = services.grant_create(
        identity=agent,
        task=task,
        entries=[(tool, "write", {})],
        ends_at=timezone.now() + timedelta(minutes=30),
        actor=cast.manager,
    )
    credential = services.credential_register(
        actor=cast.identity_owner,
        holders=[agent],
        name="key",
        kind="api_key",
        fingerprint="cd" * 32,
        issued_at=timezone.now(),
    )
    return agent, task, grant, credential


def test_suspension_ends_jit_access_grants_and_tasks_and_requests_credential_revocation(cast, busy_agent):
    agent, task, grant, credential = busy_agent
    counts = ending.identity_suspend(identity=agent, actor=cast.security_analyst, reason="anomalous calls")
    assert counts == {"jit_entitlements": 1, "grants": 1, "tasks": 1, "credentials": 1}
    agent.refresh_from_db()
    assert agent.status == "suspended"
    assert not Entitlement.objects.filter(identity=agent, mode="jit", revoked_at__isnull=True).exists()
    assert Grant.objects.get(pk=grant.pk).ended_at is not None
    assert Task.objects.get(pk=task.pk).state == "cancelled"
    assert Credential.objects.get(pk=credential.pk).revocation_status == "requested"


@pytest.mark.django_db(transaction=True)
def test_a_failure_midway_through_suspension_leaves_nothing_half_done(cast, busy_agent):
    agent, task, grant, _credential = busy_agent
    # A real database failure at the last step: credentials refuse the update.
    with connection.cursor() as cursor:
        cursor.execute("""
            CREATE FUNCTION fail_credential_update() RETURNS trigger AS $$
            BEGIN RAISE EXCEPTION 'credential store unavailable'; END $$ LANGUAGE plpgsql;
            CREATE TRIGGER fail_credential_update BEFORE UPDATE ON identities_credential
            FOR EACH ROW EXECUTE FUNCTION fail_credential_update();
        """)
    try:
        with pytest.raises(DatabaseError, match="credential store unavailable"):
            ending.identity_suspend(identity=agent, actor=cast.security_analyst, reason="anomalous calls")
    finally:
        with connection.cursor() as cursor:
            cursor.execute(
                "DROP TRIGGER fail_credential_update ON identities_credential;DROP FUNCTION fail_credential_update();"
            )
    agent.refresh_from_db()
    assert agent.status == "active"
    assert Entitlement.objects.filter(identity=agent, mode="jit", revoked_at__isnull=True).count() == 1
    assert Grant.objects.get(pk=grant.pk).ended_at is None
    assert Task.objects.get(pk=task.pk).state == "open"
    assert not AuditEntry.objects.filter(action="identity.suspend").exists()


def test_resume_needs_an_administrator_or_analyst_who_does_not_own_it(cast, agent):
    ending.identity_suspend(identity=agent, actor=cast.identity_owner, reason="owner pulled the plug")
    with pytest.raises(PermissionDenied):
        services.identity_resume(identity=agent, actor=cast.identity_owner, reason="fixed")
    with pytest.raises(ValidationError):
        services.identity_resume(identity=agent, actor=cast.security_analyst, reason="  ")
    resumed = services.identity_resume(identity=agent, actor=cast.security_analyst, reason="investigated")
    assert resumed.status == "active"
    with pytest.raises(Conflict):
        services.identity_resume(identity=agent, actor=cast.security_analyst, reason="again")


def test_disabling_the_accountable_owner_orphans_the_identity_at_once(cast, agent):
    from identities.models import Profile

    services.person_disable(
        actor=cast.administrator, profile=Profile.objects.get(user=cast.identity_owner), reason="left the company"
    )
    agent.refresh_from_db()
    assert agent.is_orphaned and "orphaned" in agent.flags


def test_who_owned_an_identity_on_a_date_has_an_answer(cast, agent):
    before = timezone.now()
    successor = make_person("successor", "identity_owner")
    services.ownership_assign(identity=agent, person=successor, role="accountable", actor=cast.identity_owner)
    assert services.owner_at(agent, before) == cast.identity_owner
    assert services.owner_at(agent, timezone.now()) == successor


def test_acceptable_use_versions_are_never_rewritten(cast, agent):
    first = services.aup_add_version(
        identity=agent,
        actor=cast.identity_owner,
        purpose="Triage tickets",
        allowed_tools=["jira.*"],
        data_classes=["internal"],
    )
    second = services.aup_add_version(
        identity=agent,
        actor=cast.identity_owner,
        purpose="Triage and label",
        allowed_tools=["jira.*"],
        data_classes=["internal"],
    )
    assert (first.version, second.version) == (1, 2)
    with pytest.raises(DatabaseError), transaction.atomic():
        type(first).objects.filter(pk=first.pk).update(purpose="changed")
    agent.refresh_from_db()
    assert "aup_missing" not in agent.flags


def test_a_spiffe_identifier_is_validated_and_unique(cast, agent):
    services.identifier_add(
        identity=agent, actor=cast.identity_owner, kind="spiffe", value="spiffe://acme.example/agent/triage"
    )
    with pytest.raises(ValidationError, match="query"):
        services.identifier_add(
            identity=agent, actor=cast.identity_owner, kind="spiffe", value="spiffe://acme.example/agent?x=1"
        )
    with pytest.raises(ValidationError, match="already belongs"):
        services.identifier_add(
            identity=agent, actor=cast.identity_owner, kind="spiffe", value="spiffe://acme.example/agent/triage"
        )


def test_completing_a_task_ends_its_grants_and_jit_entitlements(cast, busy_agent):
    _agent, task, grant, _ = busy_agent
    result = ending.task_end(task=task, actor=cast.identity_owner)
    assert result == {"tokens": 0, "grants": 1, "entitlements": 1}
    assert not Entitlement.objects.filter(grant=grant, revoked_at__isnull=True).exists()
