from django.apps import AppConfig


class RuntimeConfig(AppConfig):
    """The runtime control plane as a Django app: gateways, trust configuration, tokens, policy versions and
    the decision log (label `runtime`; the pure cores beside it need no app)."""

    name = "identities.runtime"
    label = "runtime"
    verbose_name = "Runtime"

    def ready(self):
        from identities.runtime import partitions, signals  # noqa: F401

        # signals: revokes tokens of a compromised signing key; partitions: registers the decision log.
