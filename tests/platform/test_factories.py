"""The test factories (tests/factories/): each builds a valid, saved row, and every model of the registry,
the runtime and reviews has one."""

from __future__ import annotations

import pytest
from django.apps import apps

import tests.factories as factories
from agentiam.permissions import Role, roles_of
from audit.trail import entry_fields, entry_hash
from identities.models import Identity, Profile, current_ownerships
from identities.runtime.models import PolicyVersion

pytestmark = pytest.mark.django_db

FACTORIES = [getattr(factories, name) for name in factories.__all__]

# Models with no factory, and why.
WITHOUT_FACTORY = {
    "identities.Profile": "the post_save signal makes it with its user; PersonFactory sets its fields",
    "identities.PersonSession": "written by signing in (tests.support.sign_in)",
    "runtime.JtiLedgerEntry": "claimed by the token service while it checks a client assertion",
}


@pytest.mark.parametrize("factory", FACTORIES, ids=lambda factory: factory.__name__)
def test_the_factory_saves_a_valid_row(factory):
    row = factory()
    model = factory._meta.get_model_class()
    assert isinstance(row, model) and row.pk is not None
    saved = model._default_manager.get(pk=row.pk)
    # Every value set is checked (choices, lengths, validators); empty ones the database took are left out,
    # as append-only rows written by machines (decisions, audit entries) leave fields empty without blank=True.
    empty = {field.name for field in model._meta.concrete_fields if getattr(saved, field.attname) in field.empty_values}
    saved.full_clean(exclude=empty, validate_constraints=False)  # the database checked its constraints
    assert factory().pk != row.pk  # a second row does not collide with the first


def test_every_model_of_the_registry_and_the_runtime_has_a_factory():
    models = {
        model._meta.label
        for app in ("identities", "runtime", "reviews")
        for model in apps.get_app_config(app).get_models()
    }
    covered = {factory._meta.get_model_class()._meta.label for factory in FACTORIES}
    missing = sorted(models - covered - WITHOUT_FACTORY.keys())
    assert not missing, f"add a factory in tests/factories/ for: {', '.join(missing)}"
    assert not (covered & WITHOUT_FACTORY.keys()), "a model with a factory is still listed in WITHOUT_FACTORY"


def test_a_person_gets_roles_and_profile_fields():
    boss = factories.PersonFactory()
    person = factories.PersonFactory(roles=[Role.AUDITOR], manager=boss, employee_id="E-1", job_title="Analyst")
    profile = Profile.objects.get(user=person)
    assert roles_of(person) == {Role.AUDITOR}
    assert (profile.manager, profile.employee_id, profile.job_title) == (boss, "E-1", "Analyst")


def test_an_identity_with_an_owner_is_owned_and_not_orphaned():
    owner = factories.UserFactory()
    identity = factories.IdentityFactory(owner=owner)
    assert Identity.objects.owned_by(owner).get() == identity and not identity.is_orphaned
    assert current_ownerships().filter(identity=identity, role="accountable").count() == 1
    assert factories.IdentityFactory().is_orphaned


def test_access_rows_hang_together():
    jit = factories.JitEntitlementFactory()
    assert jit.grant.identity == jit.identity == jit.grant.task.identity and jit.expires_at == jit.grant.ends_at
    credential = factories.CredentialFactory(entitlements=[jit])
    assert credential.holders.count() == 1 and list(credential.entitlements.all()) == [jit]
    assert factories.RiskExceptionFactory().entitlement.action == "write"


def test_a_policy_draft_copies_the_active_version_and_takes_the_next_number():
    active = PolicyVersion.objects.get(status="active")
    draft = factories.PolicyVersionFactory()
    assert draft.parent == active and draft.policy_text == active.policy_text
    assert draft.number == PolicyVersion.objects.exclude(pk=draft.pk).order_by("-number")[0].number + 1


def test_a_gateway_knows_its_credential():
    gateway = factories.GatewayFactory()
    assert gateway.credential.startswith("aiamgw_") and gateway.prefix in gateway.credential
    assert gateway.identity.kind == "service_account"


def test_an_audit_entry_extends_the_hash_chain():
    first, second = factories.AuditEntryFactory(), factories.AuditEntryFactory()
    assert second.prev_hash == first.hash == entry_hash(first.prev_hash, entry_fields(first))
