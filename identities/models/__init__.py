"""Models of the identities app: persons (people.py), the registry (registry.py) and access (access.py)."""

from identities.models.access import *  # noqa: F403
from identities.models.people import *  # noqa: F403
from identities.models.registry import *  # noqa: F403
