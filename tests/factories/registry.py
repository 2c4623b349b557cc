"""The registry: identities and what describes them (identifiers, workflows, owners, acceptable use), the
catalogue (systems, tools) and access (tasks, grants, entitlements, exceptions, credentials, import jobs).

Bare rows, written straight to the database: no audit entry, no risk refresh. Use identities.services when a
test is about behaviour; use these to fill a list or to stand beside the row under test."""

from __future__ import annotations

from datetime import timedelta

import factory
from django.utils import timezone

from identities.models import Ownership
from tests.factories.people import UserFactory


def _now():
    return timezone.now()


class SystemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "identities.System"
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"system-{n}")
    kind = "saas"


class ToolFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "identities.Tool"
        django_get_or_create = ("key",)

    system = factory.SubFactory(SystemFactory)
    key = factory.Sequence(lambda n: f"system.tool_{n}")
    name = factory.LazyAttribute(lambda tool: tool.key.split(".")[-1].replace("_", " ").capitalize())
    actions = factory.LazyFunction(lambda: ["read", "write", "admin", "execute"])


class IdentityFactory(factory.django.DjangoModelFactory):
    """A bare identity row (no refresh): use identities.services.identity_create for behaviour.

    `IdentityFactory(owner=person)` also makes `person` its accountable owner (and the identity no longer
    orphaned), so that person's lists show it."""

    class Meta:
        model = "identities.Identity"
        skip_postgeneration_save = True

    kind = "agent"
    name = factory.Sequence(lambda n: f"agent-{n}")
    environment = "dev"
    exposure = "internal"

    @factory.post_generation
    def owner(identity, create, extracted, **kwargs):
        if create and extracted is not None:
            Ownership.objects.create(identity=identity, person=extracted, role="accountable", valid_from=_now())
            type(identity).objects.filter(pk=identity.pk).update(is_orphaned=False)
            identity.is_orphaned = False


class IdentifierFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "identities.Identifier"

    identity = factory.SubFactory(IdentityFactory)
    kind = "service_name"
    value = factory.Sequence(lambda n: f"service-{n}")


class WorkflowFactory(factory.django.DjangoModelFactory):
    """A workflow; `WorkflowFactory(identities=[a, b])` attaches identities."""

    class Meta:
        model = "identities.Workflow"
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"workflow-{n}")

    @factory.post_generation
    def identities(workflow, create, extracted, **kwargs):
        if create and extracted:
            workflow.identities.add(*extracted)


class OwnershipFactory(factory.django.DjangoModelFactory):
    """A current accountable ownership (at most one per identity: pass role= for a second owner)."""

    class Meta:
        model = "identities.Ownership"

    identity = factory.SubFactory(IdentityFactory)
    person = factory.SubFactory(UserFactory)
    role = "accountable"
    valid_from = factory.LazyFunction(_now)


class AcceptableUseFactory(factory.django.DjangoModelFactory):
    """Version 1 (or the next) of an identity's acceptable-use record, valid for a year."""

    class Meta:
        model = "identities.AcceptableUse"

    identity = factory.SubFactory(IdentityFactory)
    version = factory.LazyAttribute(lambda aup: aup.identity.acceptable_uses.count() + 1)
    purpose = factory.Sequence(lambda n: f"Triage support tickets ({n})")
    allowed_tools = factory.LazyFunction(lambda: ["jira.*"])
    data_classes = factory.LazyFunction(lambda: ["internal"])
    valid_from = factory.LazyFunction(_now)
    valid_until = factory.LazyFunction(lambda: _now() + timedelta(days=365))
    approved_by = factory.SubFactory(UserFactory)
    approved_at = factory.LazyFunction(_now)


class TaskFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "identities.Task"

    identity = factory.SubFactory(IdentityFactory)
    name = factory.Sequence(lambda n: f"task-{n}")


class GrantFactory(factory.django.DjangoModelFactory):
    """A grant of the next hour for a task of the same identity."""

    class Meta:
        model = "identities.Grant"

    identity = factory.SubFactory(IdentityFactory)
    task = factory.SubFactory(TaskFactory, identity=factory.SelfAttribute("..identity"))
    reason = "incident"
    starts_at = factory.LazyFunction(_now)
    ends_at = factory.LazyAttribute(lambda grant: grant.starts_at + timedelta(hours=1))


class EntitlementFactory(factory.django.DjangoModelFactory):
    """A standing read entitlement on a new tool."""

    class Meta:
        model = "identities.Entitlement"

    identity = factory.SubFactory(IdentityFactory)
    tool = factory.SubFactory(ToolFactory)
    action = "read"
    mode = "standing"
    granted_at = factory.LazyFunction(_now)


class JitEntitlementFactory(EntitlementFactory):
    """A just-in-time entitlement, under a grant of the same identity that ends with it."""

    mode = "jit"
    source = "grant"
    grant = factory.SubFactory(GrantFactory, identity=factory.SelfAttribute("..identity"))
    expires_at = factory.SelfAttribute("grant.ends_at")


class EntitlementUsageFactory(factory.django.DjangoModelFactory):
    """Today's use of a standing entitlement."""

    class Meta:
        model = "identities.EntitlementUsage"

    entitlement = factory.SubFactory(EntitlementFactory)
    day = factory.LazyFunction(lambda: timezone.localdate())
    count = 3
    last_used_at = factory.LazyFunction(_now)


class RiskExceptionFactory(factory.django.DjangoModelFactory):
    """Accepted risk on a standing write entitlement, for 30 days."""

    class Meta:
        model = "identities.RiskException"

    entitlement = factory.SubFactory(EntitlementFactory, action="write")
    accepted_by = factory.SubFactory(UserFactory)
    reason = "Needed until the migration ends"
    valid_until = factory.LazyFunction(lambda: _now() + timedelta(days=30))


class CredentialFactory(factory.django.DjangoModelFactory):
    """An API key held by one new identity, or by `holders=[…]`; `entitlements=[…]` links what it grants."""

    class Meta:
        model = "identities.Credential"
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"key-{n}")
    kind = "api_key"
    fingerprint = factory.Sequence(lambda n: f"{n:064x}")
    issued_at = factory.LazyFunction(_now)

    @factory.post_generation
    def holders(credential, create, extracted, **kwargs):
        if create:
            credential.holders.add(*(extracted if extracted is not None else [IdentityFactory()]))

    @factory.post_generation
    def entitlements(credential, create, extracted, **kwargs):
        if create and extracted:
            credential.entitlements.add(*extracted)


class ImportJobFactory(factory.django.DjangoModelFactory):
    """A finished import job row (no file behind it)."""

    class Meta:
        model = "identities.ImportJob"

    sha256 = factory.Sequence(lambda n: f"{n:064x}")
    size = 1024
    filename = factory.Sequence(lambda n: f"registry-{n}.zip")
    path = factory.LazyAttribute(lambda job: f"/nonexistent/{job.filename}")
    status = "succeeded"
    created_by = factory.SubFactory(UserFactory)
    finished_at = factory.LazyFunction(_now)
