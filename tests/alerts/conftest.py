"""The events tests' estate and ingest keys, for the alerts tests (events are written through real ingest)."""

from tests.events.conftest import estate, keys  # noqa: F401 - fixtures
