"""Writes of the runtime: trust configuration, the token service, revocations, the ways to end access."""

from identities.runtime.services.config import *  # noqa: F403
from identities.runtime.services.ending import *  # noqa: F403
from identities.runtime.services.tokens import *  # noqa: F403
