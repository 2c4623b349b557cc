"""Models of the identities app: persons (people.py), the registry (registry.py) and access (access.py)."""

from identities.models import access as _access
from identities.models import people as _people
from identities.models import registry as _registry
from identities.models.access import *  # noqa: F403
from identities.models.people import *  # noqa: F403
from identities.models.registry import *  # noqa: F403

__all__ = [
    *_access.__all__,
    *_people.__all__,
    *_registry.__all__,
]
