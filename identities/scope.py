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
from dataclasses import dataclass
from functools import lru_cache

MAX_ATTRIBUTES = 16
MAX_PATTERN_LENGTH = 512
_ATTRIBUTE = re.compile(r"^[a-z][a-z0-9_.-]{0,63}$")


class InvalidScope(ValueError):
    pass


@dataclass(frozen=True)
class _Glob:
    """A pattern as a bit-parallel automaton. Bit i of a state says "the first i pattern pieces match the
    text read so far"; a star piece keeps its bit set while it consumes characters. One pass over the value
    with a few integer operations per character: linear in the value whatever the pattern. (A regular
    expression of `.*` pieces backtracks: `**a**a**a**b` against 1,000 `a`s took seconds per match, and
    patterns and resource attributes both come from outside.)"""

    literal: dict[str, int]  # char -> bits of the pieces that are that literal character
    one: int  # bits of `?` pieces (any character but "/")
    stars: int  # bits of star pieces (entering one consumes nothing)
    loop_any: int  # bits after `**` pieces (they consume any character)
    loop_segment: int  # bits after `*` pieces (any character but "/")
    accept: int


_REGEX = {"**": ".*", "*": "[^/]*", "?": "[^/]"}


@lru_cache(maxsize=4096)
def _compile(pattern: str) -> re.Pattern[str] | _Glob:
    """A regular expression while the pattern has at most one star (it cannot backtrack far: one pass per
    split of the value), the automaton past that."""
    pieces = _pieces(pattern)
    if sum(piece in ("*", "**") for piece in pieces) > 1:
        return _automaton(pieces)
    return re.compile("".join(_REGEX.get(piece) or re.escape(piece) for piece in pieces), re.DOTALL)


def _pieces(pattern: str) -> list[str]:
    pieces: list[str] = []  # "*", "**", "?" or one literal character; a run of stars is consumed whole
    i = 0
    while i < len(pattern):
        end = i + 1
        if pattern[i] == "*":
            while end < len(pattern) and pattern[end] == "*":
                end += 1
        pieces.append("**" if end - i > 1 else pattern[i])  # `***` is `**`: a `*` beside it adds nothing
        i = end
    return pieces


def _automaton(pieces: list[str]) -> _Glob:
    literal: dict[str, int] = {}
    one = stars = loop_any = loop_segment = 0
    for position, piece in enumerate(pieces):
        bit = 1 << position
        if piece == "**":
            stars, loop_any = stars | bit, loop_any | bit << 1
        elif piece == "*":
            stars, loop_segment = stars | bit, loop_segment | bit << 1
        elif piece == "?":
            one |= bit
        else:
            literal[piece] = literal.get(piece, 0) | bit
    return _Glob(literal, one, stars, loop_any, loop_segment, 1 << len(pieces))


def glob_match(pattern: str, value: str) -> bool:
    glob = _compile(pattern)
    if not isinstance(glob, _Glob):
        return glob.fullmatch(value) is not None
    state = 1 | (1 & glob.stars) << 1
    for char in value:
        step = glob.literal.get(char, 0)
        keep = glob.loop_any
        if char != "/":
            step |= glob.one
            keep |= glob.loop_segment
        state = (state & step) << 1 | state & keep
        state |= (state & glob.stars) << 1  # entering a star consumes nothing (stars are never adjacent)
        if not state:
            return False
    return bool(state & glob.accept)


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
