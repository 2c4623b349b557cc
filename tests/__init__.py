"""The suite. Shared helpers: `tests.support`, `tests.cast`, `tests.runtime_support`, `tests.factories`."""
