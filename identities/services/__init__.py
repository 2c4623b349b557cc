"""Writes of the identities app, one module per area; everything is importable from here."""

from identities.services import acceptable_use as _acceptable_use
from identities.services import catalog as _catalog
from identities.services import credentials as _credentials
from identities.services import entitlements as _entitlements
from identities.services import grants as _grants
from identities.services import identifiers as _identifiers
from identities.services import identity as _identity
from identities.services import ownership as _ownership
from identities.services import people as _people
from identities.services import refresh as _refresh
from identities.services import tasks as _tasks
from identities.services.acceptable_use import *  # noqa: F403
from identities.services.catalog import *  # noqa: F403
from identities.services.credentials import *  # noqa: F403
from identities.services.entitlements import *  # noqa: F403
from identities.services.grants import *  # noqa: F403
from identities.services.identifiers import *  # noqa: F403
from identities.services.identity import *  # noqa: F403
from identities.services.ownership import *  # noqa: F403
from identities.services.people import *  # noqa: F403
from identities.services.refresh import *  # noqa: F403
from identities.services.tasks import *  # noqa: F403

__all__ = [
    *_acceptable_use.__all__,
    *_catalog.__all__,
    *_credentials.__all__,
    *_entitlements.__all__,
    *_grants.__all__,
    *_identifiers.__all__,
    *_identity.__all__,
    *_ownership.__all__,
    *_people.__all__,
    *_refresh.__all__,
    *_tasks.__all__,
]
