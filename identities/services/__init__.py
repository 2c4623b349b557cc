"""Writes of the identities app, one module per area; everything is importable from here."""

from identities.services.access import *  # noqa: F403
from identities.services.identity import *  # noqa: F403
from identities.services.people import *  # noqa: F403
