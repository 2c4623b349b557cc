from django.apps import AppConfig


class SignInConfig(AppConfig):
    name = "agentiam.auth"
    label = "agentiam_auth"  # "auth" is django.contrib.auth's label
    verbose_name = "Sign-in security"

    def ready(self):
        from agentiam.auth import signals  # noqa: F401 - connects the audit receivers
        from agentiam.navigation import NavEntry, register

        register(NavEntry("Account", "Sign-in security", "account_security", None))
