"""Models of the runtime app: trust configuration, issued tokens, policy versions and the decision log."""

from identities.runtime.models.config import *  # noqa: F403
from identities.runtime.models.policy import *  # noqa: F403
from identities.runtime.models.tokens import *  # noqa: F403
