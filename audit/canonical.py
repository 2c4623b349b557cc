"""Canonical text pieces shared by what is hashed (audit entries) and what is signed (checkpoints)."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_text(value: datetime) -> str:
    """A timestamp as hashes and signatures cover it: UTC, microseconds, a literal Z."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
