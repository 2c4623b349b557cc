from django.apps import AppConfig


class IdentitiesConfig(AppConfig):
    name = "identities"
    verbose_name = "Identities"

    def ready(self):
        from identities import signals, worklist  # noqa: F401 - connects the receivers, registers the work
