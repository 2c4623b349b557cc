from django.apps import AppConfig


class IdentitiesConfig(AppConfig):
    name = "identities"
    verbose_name = "Identities"

    def ready(self):
        from identities import signals  # noqa: F401 - connects the receivers
