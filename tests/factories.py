import factory
from django.conf import settings
from django.contrib.auth import get_user_model


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"person{n}")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.LazyAttribute(lambda person: f"{person.username}@example.com")
    password = factory.django.Password(settings.AGENTIAM_DEMO_PASSWORD)


# --- registry ------------------------------------------------------------------------------------------------


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
    """A bare identity row (no owner, no refresh): use identities.services.identity_create for behaviour."""

    class Meta:
        model = "identities.Identity"

    kind = "agent"
    name = factory.Sequence(lambda n: f"agent-{n}")
    environment = "dev"
    exposure = "internal"
