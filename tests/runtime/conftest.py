"""Fixtures the runtime's tests share."""

from __future__ import annotations

import pytest

from tests.runtime_support import build_estate


@pytest.fixture
def estate(cast):
    """The estate of tests.runtime_support.build_estate."""
    return build_estate(cast)
