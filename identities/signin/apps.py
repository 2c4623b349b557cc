from django.apps import AppConfig


class SignInConfig(AppConfig):
    name = "identities.signin"
    label = "identities_signin"  # "auth" is django.contrib.auth's label
    verbose_name = "Sign-in security"

    def ready(self):
        from agentiam.navigation import NavEntry, register
        from identities.signin import signals  # noqa: F401 - connects the audit receivers

        register(NavEntry("Account", "Sign-in security", "account_security", None))
