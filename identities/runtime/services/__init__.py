"""Writes of the runtime: trust configuration, the token service, revocations, the ways to end access, per-call
re-authorisation."""

from identities.runtime.services import config as _config
from identities.runtime.services import ending as _ending
from identities.runtime.services import percall as _percall
from identities.runtime.services import tokens as _tokens
from identities.runtime.services.config import *  # noqa: F403
from identities.runtime.services.ending import *  # noqa: F403
from identities.runtime.services.percall import *  # noqa: F403
from identities.runtime.services.tokens import *  # noqa: F403

__all__ = [
    *_config.__all__,
    *_ending.__all__,
    *_percall.__all__,
    *_tokens.__all__,
]
