"""Models of the runtime app: trust configuration, per-call re-authorisation, issued tokens, policy versions
and the decision log."""

from identities.runtime.models import config as _config
from identities.runtime.models import percall as _percall
from identities.runtime.models import policy as _policy
from identities.runtime.models import tokens as _tokens
from identities.runtime.models.config import *  # noqa: F403
from identities.runtime.models.percall import *  # noqa: F403
from identities.runtime.models.policy import *  # noqa: F403
from identities.runtime.models.tokens import *  # noqa: F403

__all__ = [
    *_config.__all__,
    *_percall.__all__,
    *_policy.__all__,
    *_tokens.__all__,
]
