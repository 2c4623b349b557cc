"""Persons and their personal API tokens."""

from __future__ import annotations

from datetime import timedelta

import factory
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone

from agentiam.permissions import Role
from identities.models import Profile


class UserFactory(factory.django.DjangoModelFactory):
    """A person's user row; the profile comes from the post_save signal, as it does for every user."""

    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"person{n}")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.LazyAttribute(lambda person: f"{person.username}@example.com")
    password = factory.django.Password(settings.AGENTIAM_DEMO_PASSWORD)


class PersonFactory(UserFactory):
    """A person with roles and profile fields: `PersonFactory(roles=[Role.AUDITOR], manager=boss)`.

    Test set-up, not the service: no audit entry (use identities.services for behaviour)."""

    @factory.post_generation
    def roles(user, create, extracted, **kwargs):
        for role in extracted or ():
            user.groups.add(Group.objects.get_or_create(name=Role(role).value)[0])

    @classmethod
    def _generate(cls, strategy, params):
        # manager, employee_id and job_title belong to the profile, which the signal creates with the user.
        profile = {name: params.pop(name, None) for name in ("manager", "employee_id")}
        profile["job_title"] = params.pop("job_title", "")
        user = super()._generate(strategy, params)
        if strategy == factory.enums.CREATE_STRATEGY:
            Profile.objects.filter(user=user).update(**profile)
        return user


class ApiTokenFactory(factory.django.DjangoModelFactory):
    """A personal API token row. Its secret is unknown: use identities.services.api_token_create to sign in with
    one."""

    class Meta:
        model = "identities.ApiToken"

    user = factory.SubFactory(UserFactory)
    name = factory.Sequence(lambda n: f"token-{n}")
    prefix = factory.Sequence(lambda n: f"t{n:011d}")
    digest = factory.Sequence(lambda n: f"{n:064x}")
    expires_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=90))


class SSOLinkFactory(factory.django.DjangoModelFactory):
    """A person's account at an OpenID Connect provider."""

    class Meta:
        model = "identities.SSOLink"

    user = factory.SubFactory(UserFactory)
    issuer = "https://login.example.com"
    subject = factory.Sequence(lambda n: f"subject-{n}")
