from django.apps import AppConfig
from django.core.exceptions import ImproperlyConfigured
from django.db.backends.signals import connection_created


def refuse_old_postgresql(sender, connection, **kwargs):
    """Refuse to run on anything but PostgreSQL 15 or newer (the oldest version CI proves we work on)."""
    from django.conf import settings

    if connection.vendor != "postgresql":
        raise ImproperlyConfigured("AgentIAM runs on PostgreSQL only")
    version = connection.connection.info.server_version
    if version < settings.MINIMUM_POSTGRESQL_VERSION:
        where = connection.settings_dict.get("HOST") or "the socket"
        raise ImproperlyConfigured(
            f"AgentIAM needs PostgreSQL 15 or newer; the server at {where} runs {version // 10000}.{version % 10000}"
        )


class AgentIAMConfig(AppConfig):
    name = "agentiam"
    verbose_name = "AgentIAM core"

    def ready(self):
        # Import the Celery app so shared tasks bind to it in every process, web included.
        from agentiam import celery, notifications  # noqa: F401 - notifications: registers the outbox channels

        connection_created.connect(refuse_old_postgresql, dispatch_uid="agentiam-refuse-old-postgresql")
