"""The one way the product parses JSON it did not write itself: request bodies (the runtime's machine
endpoints, every DRF write), token and proof payloads, remote key sets, import JSON Lines, form fields.

`loads(raw)` refuses, before Python's parser recurses, a document larger than JSON_MAX_BYTES or nested
deeper than JSON_MAX_DEPTH arrays and objects, text that is not UTF-8, and NaN / Infinity (PostgreSQL's
jsonb has no such numbers). Every refusal is a `JsonRefused` — a ValueError, so callers that already
treat "not JSON" as bad input keep doing so — whose `code` and `detail` name the limit broken (str() of a
syntax error stays the parser's own message).
"""

from __future__ import annotations

import json
import re
from typing import Any

from django.conf import settings

# JSON strings (escapes included), removed before brackets are counted: a bracket inside a string is text.
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")

INVALID = "parse_error"  # DRF's code for the same refusal
TOO_DEEP = "json_too_deep"
TOO_LARGE = "json_too_large"
ERR_NOT_UTF8 = "{what} is not UTF-8 text."
ERR_INVALID = "{what} is not valid JSON: {error}."
ERR_TOO_DEEP = "{what} nests arrays and objects deeper than {limit} levels, the most this server accepts."
ERR_TOO_LARGE = "{what} is larger than {limit} bytes, the most this server accepts for one JSON document."
ERR_CONSTANT = "{what} holds {name}, which is not a JSON number."


class JsonRefused(ValueError):
    """A JSON document refused: `code` is parse_error, json_too_deep or json_too_large; `detail` says why."""

    def __init__(self, code: str, detail: str, reason: str | None = None):
        super().__init__(reason or detail)
        self.code, self.detail = code, detail


def max_depth() -> int:
    return settings.JSON_MAX_DEPTH


def _levels(text: str):
    level = 0
    for match in _BRACKET.finditer(_STRING.sub("", text)):
        level += 1 if match.group() in "[{" else -1
        yield level


def depth(text: str) -> int:
    """How deep arrays and objects nest in `text` (0 for a scalar), counted without parsing."""
    return max(_levels(text), default=0)


def _check_depth(text: str, what: str) -> None:
    limit = max_depth()
    if any(level > limit for level in _levels(text)):
        raise JsonRefused(TOO_DEEP, ERR_TOO_DEEP.format(what=what, limit=limit))


def loads(raw: bytes | bytearray | str, *, what: str = "The body") -> Any:
    """Parse one JSON document within the limits; JsonRefused (naming the limit) otherwise."""
    limit = settings.JSON_MAX_BYTES
    if isinstance(raw, str):
        if len(raw) > limit:  # cheap bound first: UTF-8 is never shorter than the text
            raise JsonRefused(TOO_LARGE, ERR_TOO_LARGE.format(what=what, limit=limit))
        try:
            size = len(raw.encode("utf-8"))
        except UnicodeEncodeError:
            raise JsonRefused(INVALID, ERR_NOT_UTF8.format(what=what)) from None
        text = raw
    else:
        size = len(raw)
        text = None
    if size > limit:
        raise JsonRefused(TOO_LARGE, ERR_TOO_LARGE.format(what=what, limit=limit))
    if text is None:
        try:
            text = bytes(raw).decode("utf-8")
        except UnicodeDecodeError:
            raise JsonRefused(INVALID, ERR_NOT_UTF8.format(what=what)) from None
    _check_depth(text, what)

    def constant(name: str) -> Any:
        raise JsonRefused(INVALID, ERR_CONSTANT.format(what=what, name=name))

    try:
        return json.loads(text, parse_constant=constant)
    except JsonRefused:
        raise
    except RecursionError:  # not reachable under the depth check; kept so no input can surface as a 500
        raise JsonRefused(TOO_DEEP, ERR_TOO_DEEP.format(what=what, limit=max_depth())) from None
    except ValueError as error:
        reason = str(error)
        raise JsonRefused(INVALID, ERR_INVALID.format(what=what, error=reason.rstrip(".")), reason) from None
