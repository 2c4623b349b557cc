"""Entitlement scopes: the one matching function every capability uses.

A scope is a JSON object mapping an attribute name to a glob pattern, e.g.
``{"repo": "acme/*", "branch": "release/**"}``. A request's resource attributes match a scope when every
attribute the scope names is present in the request (as a string) and matches its pattern. An empty
scope ``{}`` matches everything: the entitlement is not narrowed.

Patterns are case-sensitive. ``*`` matches any run of characters except ``/``; ``**`` matches any run of
characters including ``/``; ``?`` matches one character except ``/``. Every other character is literal
(there are no character classes, unlike fnmatch, so ``[`` in a resource name means itself).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache

MAX_ATTRIBUTES = 16
MAX_PATTERN_LENGTH = 512
_ATTRIBUTE = re.compile(r"^[a-z][a-z0-9_.-]{0,63}$")


class InvalidScope(ValueError):
    pass


@lru_cache(maxsize=4096)
def _compile(pattern: str) -> re.Pattern[str]:
    parts: list[str] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "*":
            if pattern.startswith("**", i):
                parts.append(".*")
                i += 2
                continue
            parts.append("[^/]*")
        elif char == "?":
            parts.append("[^/]")
        else:
            parts.append(re.escape(char))
        i += 1
    return re.compile("".join(parts), re.DOTALL)


def glob_match(pattern: str, value: str) -> bool:
    return _compile(pattern).fullmatch(value) is not None


def scope_matches(scope: Mapping[str, str], attributes: Mapping[str, object]) -> bool:
    """Does a request with these resource attributes fall inside this scope?"""
    for name, pattern in scope.items():
        value = attributes.get(name)
        if not isinstance(value, str) or not glob_match(pattern, value):
            return False
    return True


def scope_within(inner: Mapping[str, str], outer: Mapping[str, str]) -> bool:
    """Is every request `inner` allows also allowed by `outer`? (Used to check that a requested scope is
    no wider than the one it is drawn from.) Conservative: a pattern counts as within another only if it
    is identical, or contains no wildcard and matches it, or the outer pattern is ``**``."""
    for name, outer_pattern in outer.items():
        if name not in inner:
            return False
        inner_pattern = inner[name]
        if inner_pattern == outer_pattern or outer_pattern == "**":
            continue
        if any(c in inner_pattern for c in "*?") or not glob_match(outer_pattern, inner_pattern):
            return False
    return True


def validate_scope(scope: object) -> dict[str, str]:
    """Check a scope submitted by a person or an import; raises InvalidScope naming the attribute."""
    if not isinstance(scope, Mapping):
        raise InvalidScope("scope must be a JSON object of attribute → pattern")
    if len(scope) > MAX_ATTRIBUTES:
        raise InvalidScope(f"scope may name at most {MAX_ATTRIBUTES} attributes")
    clean: dict[str, str] = {}
    for name, pattern in scope.items():
        if not isinstance(name, str) or not _ATTRIBUTE.match(name):
            raise InvalidScope(
                f"scope attribute {name!r} must start with a lowercase letter and use only a-z, 0-9, _ . -"
            )
        if not isinstance(pattern, str) or not pattern:
            raise InvalidScope(f"scope attribute {name!r} needs a non-empty text pattern")
        if len(pattern) > MAX_PATTERN_LENGTH or "\x00" in pattern:
            raise InvalidScope(f"scope attribute {name!r} has a pattern that is too long or holds a NUL")
        clean[name] = pattern
    return dict(sorted(clean.items()))
