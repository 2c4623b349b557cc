"""The registry's browser pages: who may open and use each one, what bad input gets, and what a change writes."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from agentiam.permissions import Role
from agentiam.stepup import SESSION_AT, SESSION_USER
from audit.models import AuditEntry
from identities import services
from identities.forms import ERR_DIGEST, ERR_NOT_FINGERPRINT, ERR_SCOPE_BOTH
from identities.models import (
    AcceptableUse,
    Credential,
    Entitlement,
    Identity,
    Ownership,
    RiskException,
    System,
    Tool,
    Workflow,
)
from identities.runtime.services import ending
from identities.services import ERR_ADMIN_OWNS, ERR_NEEDS_EXCEPTION, ERR_OVERRIDE_SAME
from tests.cast import check_access, make_person
from tests.factories import ToolFactory

pytestmark = pytest.mark.django_db

ALL = list(Role)
CHANGERS = [Role.ADMINISTRATOR, Role.IDENTITY_OWNER]
FINGERPRINT = "ab" * 32


def register(owner, name="triage-bot", **fields):
    defaults = {"kind": "agent", "environment": "dev", "exposure": "internal"}
    return services.identity_create(actor=owner, name=name, **{**defaults, **fields})


@pytest.fixture
def theirs(other_owner):
    return register(other_owner, name="someone-elses-bot")


@pytest.fixture
def read(cast, agent, tool):
    return services.entitlement_grant(identity=agent, tool=tool, action="read", actor=cast.identity_owner)


@pytest.fixture
def credential(cast, agent, read):
    return services.credential_register(
        actor=cast.identity_owner,
        holders=[agent],
        entitlements=[read],
        name="gh key",
        kind="api_key",
        fingerprint=FINGERPRINT,
        issued_at=timezone.now(),
    )


def make_high_risk(cast, agent):
    return services.identity_update(
        identity=agent, actor=cast.identity_owner, environment="prod", capabilities=["modifies_infrastructure"]
    )


def step_up(client, user):
    session = client.session
    session[SESSION_AT], session[SESSION_USER] = int(time.time()), user.pk
    session.save()
    return client


# --- Who may open what ---------------------------------------------------------------------------------


def test_the_identity_list_is_for_every_role_and_not_for_outsiders(cast, client_factory):
    check_access(client_factory, reverse("identities"), cast=cast, allowed=ALL, expect_allowed=(200,))


def test_my_identities_is_for_identity_owners(cast, client_factory):
    check_access(
        client_factory, reverse("identity_mine"), cast=cast, allowed=[Role.IDENTITY_OWNER], expect_allowed=(200,)
    )


def test_an_identity_page_is_for_every_role_but_another_owner_gets_a_404(cast, client_factory, agent, other_owner):
    check_access(
        client_factory,
        reverse("identity", args=[agent.uuid]),
        cast=cast,
        allowed=ALL,
        expect_allowed=(200,),
        object_denied=[other_owner],
    )


@pytest.mark.parametrize(
    ("name", "allowed"),
    [
        ("identity_edit", CHANGERS),
        ("owner_assign", CHANGERS),
        ("identifier_add", CHANGERS),
        ("credential_register", CHANGERS),
        ("entitlement_grant", CHANGERS),
        ("aup_create", [Role.IDENTITY_OWNER]),
        ("tier_override", [Role.ADMINISTRATOR]),
        ("identity_suspend", [Role.ADMINISTRATOR, Role.IDENTITY_OWNER, Role.SECURITY_ANALYST]),
    ],
)
def test_identity_forms_open_only_for_their_roles_and_never_on_another_owners_identity(
    cast, client_factory, agent, other_owner, name, allowed
):
    check_access(
        client_factory,
        reverse(name, args=[agent.uuid]),
        cast=cast,
        allowed=allowed,
        expect_allowed=(200,),
        # Another owner holds the role but not this identity: it does not exist for them.
        object_denied=[other_owner] if Role.IDENTITY_OWNER in allowed else [],
    )


@pytest.mark.parametrize(("name", "allowed"), [("entitlement_revoke", CHANGERS), ("entitlement_replace", CHANGERS)])
def test_entitlement_forms_open_only_for_their_roles(cast, client_factory, agent, read, other_owner, name, allowed):
    check_access(
        client_factory,
        reverse(name, args=[agent.uuid, read.uuid]),
        cast=cast,
        allowed=allowed,
        expect_allowed=(200,),
        object_denied=[other_owner],
    )


@pytest.mark.parametrize("name", ["credential_revocation", "credential_resolve"])
def test_credential_forms_open_for_owners_and_administrators(
    cast, client_factory, agent, credential, other_owner, name
):
    check_access(
        client_factory,
        reverse(name, args=[agent.uuid, credential.uuid]),
        cast=cast,
        allowed=CHANGERS,
        expect_allowed=(200,),
        object_denied=[other_owner],
    )


def test_the_registration_form_is_for_owners_and_administrators(cast, client_factory):
    check_access(client_factory, reverse("identity_create"), cast=cast, allowed=CHANGERS, expect_allowed=(200,))


def test_bulk_transfer_is_for_administrators(cast, client_factory, agent):
    url = reverse("identity_transfer") + f"?identity={agent.uuid}"
    check_access(client_factory, url, cast=cast, allowed=[Role.ADMINISTRATOR], expect_allowed=(200,))


def high_risk_write(cast, agent, tool, days: int):
    """Standing write on a high-risk agent, under an exception that ends in `days` days."""
    make_high_risk(cast, agent)
    return services.entitlement_grant(
        identity=agent,
        tool=tool,
        action="write",
        actor=cast.administrator,
        exception_reason="release",
        exception_until=timezone.now() + timedelta(days=days),
    )


def test_exception_and_tier_pages_are_for_administrators_who_do_not_own_it(cast, client_factory, agent, tool):
    write = high_risk_write(cast, agent, tool, days=10)
    services.tier_override_set(identity=agent, actor=cast.administrator, tier="critical", reason="blast radius")
    for url in (
        reverse("exception_accept", args=[agent.uuid, write.uuid]),
        reverse("tier_clear", args=[agent.uuid]),
    ):
        check_access(client_factory, url, cast=cast, allowed=[Role.ADMINISTRATOR], expect_allowed=(200,))


def test_an_administrator_who_owns_the_identity_is_refused_its_tier_override(cast, client_factory):
    admin_owner = make_person("admin-owner", Role.ADMINISTRATOR, Role.IDENTITY_OWNER)
    own = register(admin_owner, name="mine", accountable_owner=admin_owner)
    response = client_factory(admin_owner).get(reverse("tier_override", args=[own.uuid]))
    assert response.status_code == 403
    assert ERR_ADMIN_OWNS in response.content.decode()


@pytest.mark.parametrize("name", ["systems", "tools"])
def test_the_catalogue_is_for_every_role(cast, client_factory, tool, name):
    check_access(client_factory, reverse(name), cast=cast, allowed=ALL, expect_allowed=(200,))


def test_system_and_tool_pages_are_for_every_role_and_their_forms_for_administrators(cast, client_factory, tool):
    check_access(
        client_factory, reverse("system", args=[tool.system.uuid]), cast=cast, allowed=ALL, expect_allowed=(200,)
    )
    check_access(client_factory, reverse("tool", args=[tool.uuid]), cast=cast, allowed=ALL, expect_allowed=(200,))
    for url in (
        reverse("system_create"),
        reverse("tool_create", args=[tool.system.uuid]),
        reverse("tool_edit", args=[tool.uuid]),
    ):
        check_access(client_factory, url, cast=cast, allowed=[Role.ADMINISTRATOR], expect_allowed=(200,))


# --- The list ----------------------------------------------------------------------------------------------


def test_owners_list_only_what_they_own_and_managers_what_their_reports_own(cast, client_factory, agent, theirs):
    for person in (cast.identity_owner, cast.manager):
        page = client_factory(person).get(reverse("identities")).content.decode()
        assert "triage-bot" in page and "someone-elses-bot" not in page
    page = client_factory(cast.auditor).get(reverse("identities")).content.decode()
    assert "triage-bot" in page and "someone-elses-bot" in page


def test_the_list_filters_by_tier_orphaned_flag_and_owner_and_searches_identifiers(
    cast, client_factory, agent, theirs, other_owner
):
    make_high_risk(cast, agent)
    orphan = services.identity_create(
        actor=cast.administrator, kind="service_account", name="lonely-batch", environment="test", exposure="internal"
    )
    services.identifier_add(
        identity=theirs, actor=other_owner, kind="spiffe", value="spiffe://acme.example/ns/ci/sa/builder"
    )
    client = client_factory(cast.auditor)

    def names(**query):
        response = client.get(reverse("identities"), query)
        assert response.status_code == 200
        return {
            name for name in ("triage-bot", "someone-elses-bot", "lonely-batch") if name in response.content.decode()
        }

    assert names(risk_tier="high") == {"triage-bot"}
    assert names(orphaned="true") == {"lonely-batch"}
    assert names(flagged="aup_missing") == {"triage-bot", "someone-elses-bot", "lonely-batch"}
    assert names(owner=other_owner.username) == {"someone-elses-bot"}
    assert names(kind="service_account") == {orphan.name}
    assert names(q="ns/ci/sa/builder") == {"someone-elses-bot"}
    assert names(environment="prod") == {"triage-bot"}


def test_a_bad_filter_answers_400_naming_it(cast, client_factory, agent):
    response = client_factory(cast.auditor).get(reverse("identities"), {"risk_tier": "extreme"})
    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()


def test_the_list_runs_the_same_number_of_queries_for_2_or_50_rows(cast, client_factory, django_assert_max_num_queries):
    owners = [cast.identity_owner, make_person("second-owner", Role.IDENTITY_OWNER)]
    for i in range(2):
        register(owners[i % 2], name=f"agent-{i:02}")
    client = client_factory(cast.administrator)
    client.get(reverse("identities"))  # warm the session
    with CaptureQueriesContext(connection) as few:
        client.get(reverse("identities"))
    for i in range(2, 50):
        register(owners[i % 2], name=f"agent-{i:02}")
    with django_assert_max_num_queries(12), CaptureQueriesContext(connection) as many:
        response = client.get(reverse("identities"), {"sort": "-updated"})
    assert response.content.decode().count('name="identity"') == 50
    assert len(many) == len(few)


def test_htmx_filtering_swaps_only_the_table(cast, client_factory, agent):
    response = client_factory(cast.auditor).get(reverse("identities"), {"kind": "agent"}, HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert 'id="identity-table"' in body and "<html" not in body


def test_my_identities_lists_only_what_i_own(cast, client_factory, agent, theirs):
    page = client_factory(cast.identity_owner).get(reverse("identity_mine")).content.decode()
    assert "triage-bot" in page and "someone-elses-bot" not in page


# --- The identity page ----------------------------------------------------------------------------------------


def test_the_identity_page_explains_the_tier_with_every_reason(cast, client_factory, agent):
    make_high_risk(cast, agent)
    page = client_factory(cast.identity_owner).get(reverse("identity", args=[agent.uuid])).content.decode()
    assert "Modifies infrastructure in production" in page
    assert "How tiers are derived" in page and "delegates to other agents" in page.lower()


def test_the_identity_page_shows_an_override_beside_the_derived_tier(cast, client_factory, agent):
    services.tier_override_set(identity=agent, actor=cast.administrator, tier="high", reason="handles payroll data")
    page = client_factory(cast.auditor).get(reverse("identity", args=[agent.uuid])).content.decode()
    assert "Overridden" in page and "handles payroll data" in page and "tier-low" in page


def test_fan_out_is_flagged_with_the_suggested_fix(cast, client_factory, agent):
    for name in ("billing", "support"):
        services.workflow_attach(identity=agent, workflow=Workflow.objects.create(name=name), actor=cast.identity_owner)
    page = client_factory(cast.identity_owner).get(reverse("identity", args=[agent.uuid])).content.decode()
    assert "register one identity per workflow" in page


def test_the_identity_page_shows_its_audit_history(cast, client_factory, agent, read):
    page = client_factory(cast.auditor).get(reverse("identity", args=[agent.uuid])).content.decode()
    assert "identity.create" in page and "entitlement.grant" in page
    assert f"object_id={agent.uuid}" in page


def test_the_page_offers_owners_only_what_they_may_do(cast, client_factory, agent):
    page = client_factory(cast.identity_owner).get(reverse("identity", args=[agent.uuid])).content.decode()
    assert reverse("entitlement_grant", args=[agent.uuid]) in page
    assert reverse("aup_create", args=[agent.uuid]) in page
    assert reverse("tier_override", args=[agent.uuid]) not in page
    auditor_page = client_factory(cast.auditor).get(reverse("identity", args=[agent.uuid])).content.decode()
    assert reverse("entitlement_grant", args=[agent.uuid]) not in auditor_page
    assert "Kill switch" not in auditor_page


# --- Registering and editing ----------------------------------------------------------------------------------


def test_an_owner_registers_an_agent_and_becomes_its_accountable_owner(cast, client_factory):
    response = client_factory(cast.identity_owner).post(
        reverse("identity_create"),
        {
            "kind": "agent",
            "name": "release-notes",
            "environment": "prod",
            "exposure": "internal",
            "hosting": "aws",
            "capabilities": ["generates_code"],
            "allowed_image_digests": "sha256:" + "a" * 64,
        },
    )
    identity = Identity.objects.get(name="release-notes")
    assert response.status_code == 302 and response.url == reverse("identity", args=[identity.uuid])
    assert identity.risk_tier == "high" and identity.allowed_image_digests == ["sha256:" + "a" * 64]
    assert Ownership.objects.get(identity=identity).person == cast.identity_owner


def test_bad_registration_input_answers_400_beside_each_field_and_writes_nothing(cast, client_factory):
    response = client_factory(cast.identity_owner).post(
        reverse("identity_create"),
        {
            "kind": "agent",
            "name": "",
            "environment": "moon",
            "exposure": "internal",
            "hosting": "aws",
            "allowed_image_digests": "latest",
            "source_commit": "not-a-commit",
            "person": cast.outsider.username,
        },
    )
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert set(errors) >= {"name", "environment", "allowed_image_digests", "source_commit", "person"}
    assert errors["allowed_image_digests"] == [ERR_DIGEST]
    assert not Identity.objects.exists()
    assert 'aria-invalid="true"' in response.content.decode()


def test_an_administrator_may_register_an_orphan_or_name_its_owner(cast, client_factory):
    client = client_factory(cast.administrator)
    client.post(
        reverse("identity_create"),
        {"kind": "service_account", "name": "nightly", "environment": "dev", "exposure": "internal", "hosting": "gcp"},
    )
    client.post(
        reverse("identity_create"),
        {
            "kind": "agent",
            "name": "owned",
            "environment": "dev",
            "exposure": "internal",
            "hosting": "gcp",
            "accountable_owner": cast.identity_owner.username,
        },
    )
    assert Identity.objects.get(name="nightly").is_orphaned
    assert Ownership.objects.get(identity__name="owned").person == cast.identity_owner


def test_editing_recomputes_the_tier_and_a_sub_agent_gets_its_parent(cast, client_factory, agent):
    child = register(cast.identity_owner, name="helper")
    response = client_factory(cast.identity_owner).post(
        reverse("identity_edit", args=[child.uuid]),
        {
            "name": "helper",
            "environment": "staging",
            "exposure": "customer_facing",
            "hosting": "azure",
            "capabilities": ["internet_egress"],
            "parent": str(agent.uuid),
        },
    )
    assert response.status_code == 302
    child.refresh_from_db()
    assert child.parent == agent and child.delegation_depth == 1 and child.risk_tier == "high"


def test_a_refused_edit_shows_the_form_again_for_the_same_identity(cast, client_factory, agent):
    child = register(cast.identity_owner, name="helper")
    client = client_factory(cast.identity_owner)
    edit = {"name": "helper", "environment": "staging", "exposure": "customer_facing", "hosting": "azure"}
    assert (
        client.post(reverse("identity_edit", args=[child.uuid]), {**edit, "parent": str(agent.uuid)}).status_code == 302
    )
    # Making the parent a child of its own sub-agent is a cycle: the service refuses it, naming the field.
    response = client.post(
        reverse("identity_edit", args=[agent.uuid]),
        {**edit, "name": "triage-bot", "parent": str(child.uuid)},
    )
    assert response.status_code == 400
    assert response.context["identity"] == agent and response.context["form"].errors["parent"]
    assert reverse("identity", args=[agent.uuid]) in response.content.decode()
    agent.refresh_from_db()
    assert agent.parent is None


def test_another_owner_cannot_even_post_an_edit(client_factory, agent, other_owner):
    response = client_factory(other_owner).post(reverse("identity_edit", args=[agent.uuid]), {"name": "hijacked"})
    assert response.status_code == 404
    assert Identity.objects.get(pk=agent.pk).name == "triage-bot"


# --- Acceptable use, owners, identifiers -----------------------------------------------------------------------


def test_the_accountable_owner_adds_acceptable_use_versions(cast, client_factory, agent):
    client = client_factory(cast.identity_owner)
    url = reverse("aup_create", args=[agent.uuid])
    client.post(
        url, {"purpose": "Triage tickets", "allowed_tools": "jira.*\ngithub.read_*", "data_classes": ["internal"]}
    )
    response = client.post(url, {"purpose": "Triage and label", "allowed_tools": "jira.*"})
    assert response.status_code == 302
    assert list(AcceptableUse.objects.filter(identity=agent).values_list("version", "purpose")) == [
        (2, "Triage and label"),
        (1, "Triage tickets"),
    ]
    assert AcceptableUse.objects.get(identity=agent, version=1).allowed_tools == ["jira.*", "github.read_*"]


def test_acceptable_use_that_ends_before_it_starts_is_refused(cast, client_factory, agent):
    response = client_factory(cast.identity_owner).post(
        reverse("aup_create", args=[agent.uuid]),
        {"purpose": "x", "valid_from": "2030-01-02T00:00", "valid_until": "2030-01-01T00:00"},
    )
    assert response.status_code == 400 and "valid_until" in response.context["form"].errors
    assert not AcceptableUse.objects.exists()


def test_transferring_accountability_inline_navigates_to_the_list_when_it_leaves_my_hands(
    cast, client_factory, agent, other_owner
):
    response = client_factory(cast.identity_owner).post(
        reverse("owner_assign", args=[agent.uuid]),
        {"person": other_owner.username, "role": "accountable"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 204 and response["HX-Redirect"] == reverse("identities")
    assert services.owner_at(agent, timezone.now()) == other_owner


def test_naming_an_owner_without_the_role_is_refused_beside_the_field(cast, client_factory, agent):
    response = client_factory(cast.identity_owner).post(
        reverse("owner_assign", args=[agent.uuid]), {"person": cast.auditor.username, "role": "technical"}
    )
    assert response.status_code == 400 and "person" in response.context["form"].errors
    assert Ownership.objects.filter(identity=agent).count() == 1


def test_ending_an_ownership_needs_a_reason_and_orphans_the_identity(cast, client_factory, agent):
    ownership = Ownership.objects.get(identity=agent)
    url = reverse("owner_end", args=[agent.uuid, ownership.uuid])
    client = client_factory(cast.administrator)
    assert client.post(url, {"reason": ""}).status_code == 400
    assert client.post(url, {"reason": "moved teams"}).status_code == 302
    agent.refresh_from_db()
    assert agent.is_orphaned


def test_a_malformed_spiffe_id_is_refused_beside_the_value(cast, client_factory, agent):
    url = reverse("identifier_add", args=[agent.uuid])
    response = client_factory(cast.identity_owner).post(url, {"kind": "spiffe", "value": "spiffe://acme/x?y=1"})
    assert response.status_code == 400 and "value" in response.context["form"].errors
    assert not agent.identifiers.exists()
    ok = client_factory(cast.identity_owner).post(
        url, {"kind": "spiffe", "value": "spiffe://acme.example/agent/triage"}
    )
    assert ok.status_code == 302 and agent.identifiers.count() == 1
    identifier = agent.identifiers.get()
    client_factory(cast.identity_owner).post(reverse("identifier_remove", args=[agent.uuid, identifier.uuid]))
    assert not agent.identifiers.exists()


# --- Access ---------------------------------------------------------------------------------------------------


def test_an_owner_grants_standing_read_with_a_scope_from_rows(cast, client_factory, agent, tool):
    response = client_factory(cast.identity_owner).post(
        reverse("entitlement_grant", args=[agent.uuid]),
        {
            "tool": str(tool.uuid),
            "action": "read",
            "scope_attr_0": "repo",
            "scope_pattern_0": "acme/*",
            "scope_attr_1": "branch",
            "scope_pattern_1": "main",
        },
    )
    assert response.status_code == 302
    entitlement = Entitlement.objects.get(identity=agent)
    assert entitlement.scope == {"branch": "main", "repo": "acme/*"} and entitlement.mode == "standing"


def test_an_owner_is_not_offered_write_and_a_forged_write_is_refused(cast, client_factory, agent, tool):
    client = client_factory(cast.identity_owner)
    form = client.get(reverse("entitlement_grant", args=[agent.uuid])).context["form"]
    assert [value for value, _ in form.fields["action"].choices] == ["read"]
    response = client.post(reverse("entitlement_grant", args=[agent.uuid]), {"tool": str(tool.uuid), "action": "write"})
    assert response.status_code == 400 and "action" in response.context["form"].errors
    assert not Entitlement.objects.exists()


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"scope_json": "{not json"}, "scope_json", "not valid JSON"),
        ({"scope_json": '{"Repo": "x"}'}, "scope_json", "must start with a lowercase letter"),
        ({"scope_json": '{"repo": "x"}', "scope_attr_0": "a", "scope_pattern_0": "b"}, "scope_json", ERR_SCOPE_BOTH),
        ({"scope_attr_0": "repo"}, "scope_pattern_0", "needs both"),
        ({"expires_at": "2001-01-01T00:00"}, "expires_at", "future"),
    ],
)
def test_a_bad_scope_or_expiry_is_refused_beside_its_field(cast, client_factory, agent, tool, data, field, message):
    response = client_factory(cast.identity_owner).post(
        reverse("entitlement_grant", args=[agent.uuid]), {"tool": str(tool.uuid), "action": "read", **data}
    )
    assert response.status_code == 400
    assert any(message in error for error in response.context["form"].errors[field])
    assert not Entitlement.objects.exists()


def test_standing_write_on_a_high_risk_identity_asks_for_an_exception_then_records_it(
    cast, client_factory, agent, tool
):
    make_high_risk(cast, agent)
    client = client_factory(cast.administrator)
    url = reverse("entitlement_grant", args=[agent.uuid])
    refused = client.post(url, {"tool": str(tool.uuid), "action": "write"})
    assert refused.status_code == 400
    assert refused.context["show_exception"]
    expected = ERR_NEEDS_EXCEPTION.format(action="write", tier="high")
    assert refused.context["form"].errors["exception_reason"] == [expected]
    assert 'name="exception_until"' in refused.content.decode()
    assert not Entitlement.objects.exists()
    until = (timezone.now() + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M")
    granted = client.post(
        url,
        {"tool": str(tool.uuid), "action": "write", "exception_reason": "release automation", "exception_until": until},
    )
    assert granted.status_code == 302
    exception = RiskException.objects.get(entitlement__identity=agent)
    assert exception.accepted_by == cast.administrator and exception.reason == "release automation"


def test_revoking_inline_swaps_the_row_and_requests_the_credentials_revocation(
    cast, client_factory, agent, credential, read
):
    client = client_factory(cast.identity_owner)
    url = reverse("entitlement_revoke", args=[agent.uuid, read.uuid])
    empty = client.post(url, {"reason": ""}, HTTP_HX_REQUEST="true")
    assert empty.status_code == 400 and "This field is required" in empty.content.decode()
    assert empty.content.decode().lstrip().startswith("<tr")
    response = client.post(url, {"reason": "no longer needed"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and response.content.decode().lstrip().startswith("<tr")
    assert "Revoked" in response.content.decode()
    assert "toast" in response["HX-Trigger"]
    read.refresh_from_db()
    credential.refresh_from_db()
    assert read.revoked_at is not None and credential.revocation_status == "requested"


def test_revoking_twice_is_a_409(cast, client_factory, agent, read):
    url = reverse("entitlement_revoke", args=[agent.uuid, read.uuid])
    client = client_factory(cast.identity_owner)
    client.post(url, {"reason": "first"})
    assert client.post(url, {"reason": "second"}).status_code == 409


def test_another_owner_cannot_revoke(agent, read, other_owner, client_factory):
    url = reverse("entitlement_revoke", args=[agent.uuid, read.uuid])
    assert client_factory(other_owner).post(url, {"reason": "mine now"}).status_code == 404
    read.refresh_from_db()
    assert read.revoked_at is None


def test_changing_a_scope_revokes_and_grants_anew(cast, client_factory, agent, read):
    response = client_factory(cast.identity_owner).post(
        reverse("entitlement_replace", args=[agent.uuid, read.uuid]),
        {"scope_attr_0": "repo", "scope_pattern_0": "acme/web", "reason": "narrower"},
    )
    assert response.status_code == 302
    read.refresh_from_db()
    new = Entitlement.objects.get(identity=agent, revoked_at__isnull=True)
    assert read.revoked_at is not None and read.scope == {} and new.scope == {"repo": "acme/web"}


def test_an_administrator_accepts_an_expired_exceptions_risk_again(cast, client_factory, agent, tool):
    write = high_risk_write(cast, agent, tool, days=1)
    url = reverse("exception_accept", args=[agent.uuid, write.uuid])
    client = client_factory(cast.administrator)
    late = client.post(url, {"reason": "still needed", "valid_until": "2001-01-01T00:00"})
    assert late.status_code == 400 and "valid_until" in late.context["form"].errors
    until = (timezone.now() + timedelta(days=60)).strftime("%Y-%m-%dT%H:%M")
    assert client.post(url, {"reason": "still needed", "valid_until": until}).status_code == 302
    assert RiskException.objects.filter(entitlement=write).count() == 2


def test_a_tier_override_needs_a_reason_and_a_different_tier(cast, client_factory, agent):
    url = reverse("tier_override", args=[agent.uuid])
    client = client_factory(cast.administrator)
    same = client.post(url, {"tier": "low", "reason": "why not"})
    assert same.status_code == 400 and same.context["form"].errors["tier"] == [ERR_OVERRIDE_SAME]
    assert client.post(url, {"tier": "critical", "reason": "handles payroll"}).status_code == 302
    agent.refresh_from_db()
    assert (agent.risk_tier, agent.derived_tier) == ("critical", "low")
    assert client.post(reverse("tier_clear", args=[agent.uuid]), {"reason": "reviewed"}).status_code == 302
    agent.refresh_from_db()
    assert agent.risk_tier == "low"


# --- Credentials ------------------------------------------------------------------------------------------------


def test_a_credential_is_registered_by_fingerprint_and_the_form_has_no_secret_field(cast, client_factory, agent, read):
    url = reverse("credential_register", args=[agent.uuid])
    client = client_factory(cast.identity_owner)
    form = client.get(url).context["form"]
    assert not {"secret", "password", "token", "value"} & set(form.fields)
    secretish = client.post(
        url,
        {
            "name": "k",
            "kind": "api_key",
            "fingerprint": "ghp_s3cr3tT0k3nValue",
            "issued_at": "2026-01-01T00:00",
            "storage_kind": "vault",
        },
    )
    assert secretish.status_code == 400 and secretish.context["form"].errors["fingerprint"] == [ERR_NOT_FINGERPRINT]
    assert not Credential.objects.exists()
    response = client.post(
        url,
        {
            "name": "GitHub key",
            "kind": "api_key",
            "fingerprint": "SHA256:" + "CD" * 32,
            "issued_at": "2026-01-01T00:00",
            "storage_kind": "vault",
            "storage_location": "kv/agents/triage",
            "is_static": "on",
            "entitlements": [str(read.uuid)],
        },
    )
    assert response.status_code == 302
    credential = Credential.objects.get()
    assert credential.fingerprint == "cd" * 32 and list(credential.entitlements.all()) == [read]


def test_a_credential_revocation_is_requested_then_confirmed(cast, client_factory, agent, credential):
    client = client_factory(cast.identity_owner)
    client.post(reverse("credential_revocation", args=[agent.uuid, credential.uuid]), {"reason": "leaked in a log"})
    credential.refresh_from_db()
    assert credential.revocation_status == "requested"
    client.post(
        reverse("credential_resolve", args=[agent.uuid, credential.uuid]), {"outcome": "confirmed", "note": "vault ok"}
    )
    credential.refresh_from_db()
    assert credential.revocation_status == "confirmed"


# --- The kill switch -------------------------------------------------------------------------------------------


def test_suspending_inline_reloads_the_page_and_an_empty_reason_stays_in_the_panel(cast, client_factory, agent):
    url = reverse("identity_suspend", args=[agent.uuid])
    client = client_factory(cast.identity_owner)
    empty = client.post(url, {"reason": " "}, HTTP_HX_REQUEST="true")
    assert empty.status_code == 400 and 'id="kill-switch"' in empty.content.decode()
    assert "This field is required" in empty.content.decode()
    response = client.post(url, {"reason": "looping on deploys"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 204 and response["HX-Redirect"] == reverse("identity", args=[agent.uuid])
    agent.refresh_from_db()
    assert agent.status == "suspended" and agent.status_reason == "looping on deploys"


def test_a_security_analyst_suspends_anyones_identity(cast, client_factory, theirs):
    client_factory(cast.security_analyst).post(reverse("identity_suspend", args=[theirs.uuid]), {"reason": "alert 42"})
    theirs.refresh_from_db()
    assert theirs.status == "suspended"


def test_resume_needs_a_fresh_step_up_and_never_an_owner(cast, client_factory, agent):
    ending.identity_suspend(identity=agent, actor=cast.identity_owner, reason="paused")
    url = reverse("identity_resume", args=[agent.uuid])
    analyst = client_factory(cast.security_analyst)
    needs = analyst.post(url, {"reason": "investigated"})
    assert needs.status_code == 302 and needs.url.startswith(reverse("step_up"))
    step_up(analyst, cast.security_analyst)
    assert analyst.post(url, {"reason": ""}).status_code == 400
    assert analyst.post(url, {"reason": "investigated"}).status_code == 302
    agent.refresh_from_db()
    assert agent.status == "active"
    assert AuditEntry.objects.filter(action="identity.resume", actor_label=cast.security_analyst.username).exists()


def test_an_owner_never_resumes_their_own_identity(cast, client_factory, agent):
    ending.identity_suspend(identity=agent, actor=cast.identity_owner, reason="paused")
    admin_owner = make_person("admin-owner", Role.ADMINISTRATOR, Role.IDENTITY_OWNER)
    services.ownership_assign(identity=agent, person=admin_owner, role="backup", actor=cast.administrator)
    client = step_up(client_factory(admin_owner), admin_owner)
    assert client.post(reverse("identity_resume", args=[agent.uuid]), {"reason": "mine"}).status_code == 403
    agent.refresh_from_db()
    assert agent.status == "suspended"


# --- Bulk transfer ---------------------------------------------------------------------------------------------


def test_an_administrator_transfers_several_identities_with_one_audit_entry(
    cast, client_factory, agent, theirs, other_owner
):
    client = client_factory(cast.administrator)
    url = reverse("identity_transfer")
    confirm = client.get(url, {"identity": [str(agent.uuid), str(theirs.uuid)]})
    assert confirm.status_code == 200 and "someone-elses-bot" in confirm.content.decode()
    missing_reason = client.post(url, {"identity": [str(agent.uuid)], "to_person": other_owner.username, "reason": ""})
    assert missing_reason.status_code == 400
    response = client.post(
        url, {"identity": [str(agent.uuid), str(theirs.uuid)], "to_person": other_owner.username, "reason": "reorg"}
    )
    assert response.status_code == 302
    assert services.owner_at(agent, timezone.now()) == other_owner
    assert AuditEntry.objects.filter(action="ownership.transfer_bulk").count() == 1


def test_a_transfer_naming_nobody_or_an_identity_i_may_not_change_is_refused(cast, client_factory, other_owner):
    client = client_factory(cast.administrator)
    nobody = client.post(reverse("identity_transfer"), {"to_person": other_owner.username, "reason": "x"})
    assert nobody.status_code == 400 and "identity" in nobody.context["form"].errors
    # An administrator still recorded as its owner, but no longer an identity owner, may not move it.
    admin_owner = make_person("admin-owner", Role.ADMINISTRATOR, Role.IDENTITY_OWNER)
    own = register(admin_owner, name="mine", accountable_owner=admin_owner)
    admin_owner.groups.remove(Group.objects.get(name=Role.IDENTITY_OWNER.value))
    refused = client_factory(admin_owner).post(
        reverse("identity_transfer"), {"identity": [str(own.uuid)], "to_person": other_owner.username, "reason": "x"}
    )
    assert refused.status_code == 400 and "identity" in refused.context["form"].errors
    assert services.owner_at(own, timezone.now()) == admin_owner


# --- Systems and tools -------------------------------------------------------------------------------------------


def test_an_administrator_adds_a_system_and_a_tool_and_bad_keys_are_refused(cast, client_factory):
    client = client_factory(cast.administrator)
    assert (
        client.post(reverse("system_create"), {"name": "Jira", "kind": "saas", "vendor": "Atlassian"}).status_code
        == 302
    )
    system = System.objects.get(name="Jira")
    url = reverse("tool_create", args=[system.uuid])
    bad = client.post(
        url,
        {"key": "Jira Search!", "name": "Search", "actions": ["read"], "sensitivity": "low", "data_class": "internal"},
    )
    assert bad.status_code == 400 and "key" in bad.context["form"].errors
    ok = client.post(
        url,
        {"key": "jira.search", "name": "Search", "actions": ["read"], "sensitivity": "low", "data_class": "internal"},
    )
    assert ok.status_code == 302 and Tool.objects.get(key="jira.search").system == system
    duplicate = client.post(
        url,
        {"key": "jira.search", "name": "Again", "actions": ["read"], "sensitivity": "low", "data_class": "internal"},
    )
    assert duplicate.status_code == 400 and "key" in duplicate.context["form"].errors


def test_marking_a_tool_production_secret_raises_its_holders_tier(cast, client_factory, agent, tool, read):
    response = client_factory(cast.administrator).post(
        reverse("tool_edit", args=[tool.uuid]),
        {
            "name": tool.name,
            "actions": ["read", "write"],
            "sensitivity": "critical",
            "data_class": "restricted",
            "production": "on",
            "production_secrets": "on",
        },
    )
    assert response.status_code == 302
    agent.refresh_from_db()
    assert agent.risk_tier == "high"


def test_a_tool_page_lists_only_the_holders_the_reader_may_see(
    cast, client_factory, agent, theirs, tool, other_owner, read
):
    services.entitlement_grant(identity=theirs, tool=tool, action="read", actor=other_owner)
    mine = client_factory(cast.identity_owner).get(reverse("tool", args=[tool.uuid])).content.decode()
    assert "triage-bot" in mine and "someone-elses-bot" not in mine
    everyone = client_factory(cast.compliance_officer).get(reverse("tool", args=[tool.uuid])).content.decode()
    assert "triage-bot" in everyone and "someone-elses-bot" in everyone


def test_the_tool_list_filters_by_flag_and_action(cast, client_factory, tool):
    ToolFactory(key="vault.read_secret", actions=["read"], production=True, production_secrets=True)
    client = client_factory(cast.auditor)
    page = client.get(reverse("tools"), {"production_secrets": "true"}).content.decode()
    assert "vault.read_secret" in page and "github.create_pull_request" not in page
    page = client.get(reverse("tools"), {"action": "admin"}).content.decode()
    assert "github.create_pull_request" in page and "vault.read_secret" not in page


def test_the_identity_page_runs_the_same_number_of_queries_however_much_access_it_holds(
    cast, client_factory, agent, django_assert_max_num_queries
):
    tools = [ToolFactory(key=f"jira.tool_{i:02}", actions=["read"]) for i in range(30)]
    services.entitlement_grant(identity=agent, tool=tools[0], action="read", actor=cast.identity_owner)
    client = client_factory(cast.identity_owner)
    url = reverse("identity", args=[agent.uuid])
    client.get(url)
    with CaptureQueriesContext(connection) as few:
        client.get(url)
    for tool in tools[1:]:
        entitlement = services.entitlement_grant(identity=agent, tool=tool, action="read", actor=cast.identity_owner)
        services.credential_register(
            actor=cast.identity_owner,
            holders=[agent],
            entitlements=[entitlement],
            name=tool.key,
            kind="api_key",
            fingerprint=f"{tool.pk:064x}",
            issued_at=timezone.now(),
        )
    with django_assert_max_num_queries(30), CaptureQueriesContext(connection) as many:
        response = client.get(url)
    assert response.content.decode().count("jira.tool_") >= 30
    assert len(many) == len(few)


def test_the_dashboard_counts_only_the_identities_the_reader_may_see(cast, client_factory, agent, theirs, other_owner):
    make_high_risk(cast, agent)
    ending.identity_suspend(identity=theirs, actor=other_owner, reason="paused")
    services.identity_create(
        actor=cast.administrator, kind="service_account", name="orphan", environment="dev", exposure="internal"
    )
    panel = {p["key"]: p for p in client_factory(cast.auditor).get("/").context["panels"]}["registry"]
    assert panel["total"] == 3 and (panel["orphaned"], panel["suspended"]) == (1, 1)
    assert dict((tier, n) for tier, _, n in panel["by_tier"]) == {"critical": 0, "high": 1, "medium": 0, "low": 2}
    mine = {p["key"]: p for p in client_factory(cast.identity_owner).get("/").context["panels"]}["registry"]
    assert mine["total"] == 1 and mine["suspended"] == 0
    assert {p["key"] for p in client_factory(cast.outsider).get("/").context["panels"]} == set()


def test_suspending_an_identity_someone_else_just_suspended_reloads_the_page_with_the_reason(
    cast, client_factory, agent
):
    ending.identity_suspend(identity=agent, actor=cast.security_analyst, reason="alert 7")
    response = client_factory(cast.identity_owner).post(
        reverse("identity_suspend", args=[agent.uuid]), {"reason": "me too"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 204 and response["HX-Redirect"] == reverse("identity", args=[agent.uuid])
    page = client_factory(cast.identity_owner).get(reverse("identity", args=[agent.uuid]))
    assert "alert 7" in page.content.decode()


def test_the_owner_picker_suggests_a_few_matching_owners_and_lists_nobody_unasked(cast, client_factory):
    from tests.cast import check_access, make_person

    for n in range(20):
        make_person(f"zed-{n:02d}", "identity_owner", first_name="Zed")
    check_access(
        client_factory,
        "/people/lookup/?q=zed",
        cast=cast,
        allowed=["administrator", "identity_owner", "manager", "compliance_officer", "security_analyst", "auditor"],
    )
    client = client_factory(cast.administrator)
    suggested = client.get("/people/lookup/", {"person": "zed-0"}).content.decode()
    assert suggested.count("<option") == 10 and 'value="zed-07"' in suggested
    assert client.get("/people/lookup/", {"q": "Zed"}).content.decode().count("<option") == 15
    assert client.get("/people/lookup/").content.decode().count("<option") == 0
    page = client.get("/identities/").content.decode()
    assert "zed-07" not in page  # the list's owner filter no longer enumerates every owner


def test_an_identity_whose_owner_departed_is_marked_orphaned_in_the_list(cast, client_factory):
    from identities import services
    from identities.models import Profile
    from tests.cast import make_person

    leaver = make_person("leaver", "identity_owner")
    services.identity_create(actor=leaver, kind="agent", name="left-behind", environment="dev", exposure="internal")
    services.person_disable(actor=cast.administrator, profile=Profile.objects.get(user=leaver), reason="left")
    page = client_factory(cast.administrator).get("/identities/?orphaned=true").content.decode()
    assert "left-behind" in page and "Orphaned" in page
