"""Writes of the runtime: trust configuration, the token service, revocations, decisions."""

from identities.runtime.services.config import *  # noqa: F403
from identities.runtime.services.tokens import *  # noqa: F403
