"""Writes of the identities app, one module per area; everything is importable from here."""

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
