"""Decision ids: UUIDv7 (RFC 9562), so an id carries the millisecond it was made and a lookup by id can go
straight to the day's partition of the decision log."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime, timedelta


def uuid7(at: datetime) -> uuid.UUID:
    ms = int(at.timestamp() * 1000) & ((1 << 48) - 1)
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms << 80) | (0x7 << 76) | (((rand >> 62) & 0xFFF) << 64) | (0b10 << 62) | (rand & ((1 << 62) - 1))
    return uuid.UUID(int=value)


def decided_at_bounds(decision_id: uuid.UUID) -> tuple[datetime, datetime] | None:
    """The time range a UUIDv7 decision id was made in (± 1 s), or None for another kind of UUID."""
    if decision_id.version != 7:
        return None
    at = datetime.fromtimestamp((decision_id.int >> 80) / 1000, tz=UTC)
    return at - timedelta(seconds=1), at + timedelta(seconds=1)
