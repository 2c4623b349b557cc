"""W3C Trace Context (Level 1, https://www.w3.org/TR/trace-context/) `traceparent` parsing, strictly.

    traceparent = version "-" trace-id "-" parent-id "-" trace-flags      (lower-case hex only)

Version 00 is exactly 55 characters. Version ff is invalid. A higher version is read as the specification asks
(§ "Versioning of traceparent"): at least 55 characters, the first four fields parsed as version 00's, and a
"-" after the flags when more follows. A trace id of all zeros, or a parent id of all zeros, is invalid.

What a receiver does with an invalid value is the caller's choice (see `identities.runtime.views.machine`):
the specification says a header that cannot be parsed is ignored (a new trace starts), while a value the
client put in a request body on purpose is an input error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["ERR_TRACEPARENT", "TraceParent", "parse"]

ERR_TRACEPARENT = (
    "A W3C traceparent is version-traceid-parentid-flags in lower-case hex, e.g. "
    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01 (trace and parent ids not all zeros)."
)

_V00 = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
_LATER = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$", re.DOTALL)
MAX_LENGTH = 512  # tracestate's own limit; nothing longer is a header anyone sends


@dataclass(frozen=True)
class TraceParent:
    version: str
    trace_id: str  # 32 lower-case hex
    parent_id: str  # 16 lower-case hex: the caller's span
    flags: str  # 2 lower-case hex

    @property
    def sampled(self) -> bool:
        return bool(int(self.flags, 16) & 1)

    def header(self) -> str:
        return f"00-{self.trace_id}-{self.parent_id}-{self.flags}"


def parse(value: object) -> TraceParent | None:
    """The parsed traceparent, or None when `value` is not a valid one."""
    if not isinstance(value, str) or len(value) > MAX_LENGTH:
        return None
    value = value.strip(" \t")  # optional whitespace around a header value (RFC 9110 §5.5)
    found = _V00.match(value)
    if found:
        version, (trace_id, parent_id, flags) = "00", found.groups()
    else:
        later = _LATER.match(value)
        if later is None or len(value) < 55:
            return None
        version, trace_id, parent_id, flags, _rest = later.groups()
        if version in ("00", "ff"):  # 00 has no tail; ff is never valid
            return None
    if trace_id == "0" * 32 or parent_id == "0" * 16:
        return None
    return TraceParent(version, trace_id, parent_id, flags)
