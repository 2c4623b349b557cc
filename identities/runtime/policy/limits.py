"""How deep and how long a Cedar policy text may be before it reaches cedarpy.

Cedar's parser and its JSON and evaluation code recurse on the expression tree with no limit of their own,
in native code: past a few hundred nested parentheses, sets or records (a few thousand if-then-else, some
ten thousand chained operators) the process dies of a stack overflow — a killed web worker, not an
exception. So every policy text is measured here first, without parsing, and refused (PolicyTooComplex, a
ValueError naming the limit) well inside what the parser survives. The measure over-counts on purpose: each
`if` counts as a level until the bracket around it closes.
"""

from __future__ import annotations

import re

MAX_NESTING = 64  # brackets and if-then-else; the parser dies at about 650 nested brackets
MAX_OPERATORS = 2000  # per rule; about 17,000 chained operators kill it

# One lexeme at a time: a string literal (escapes included; an unterminated one runs to the end), a comment,
# a word, a two-character operator, or any other character.
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"?|//[^\n]*|[A-Za-z_][A-Za-z0-9_]*|&&|\|\||==|!=|<=|>=|::|\S', re.DOTALL)
_OPEN, _CLOSE = frozenset("([{"), frozenset(")]}")
_OPERATORS = frozenset({"&&", "||", "==", "!=", "<", "<=", ">", ">=", "+", "-", "*", ".", "has", "like", "in", "is"})

ERR_TOO_DEEP = (
    "The policy text nests parentheses, sets, records and if-then-else deeper than {limit} levels, "
    "the most this server accepts."
)
ERR_TOO_LONG = "A rule of the policy text chains more than {limit} operators, the most this server accepts."


class PolicyTooComplex(ValueError):
    """A policy text past MAX_NESTING or MAX_OPERATORS; str() is the message to show."""


def check_policy_shape(policy_text: str) -> None:
    """PolicyTooComplex when the text nests or chains past the limits; anything else is left to Cedar."""
    frames = [0]  # per open bracket: the `if`s opened inside it (the outermost frame is the rule itself)
    ifs = operators = 0
    for match in _TOKEN.finditer(policy_text):
        lexeme = match.group()
        if lexeme[0] == '"' or lexeme.startswith("//"):
            continue
        if lexeme in _OPEN:
            frames.append(0)
        elif lexeme in _CLOSE:
            if len(frames) > 1:
                ifs -= frames.pop()
        elif lexeme == "if":
            frames[-1] += 1
            ifs += 1
        elif lexeme == ";" and len(frames) == 1:
            frames, ifs, operators = [0], 0, 0
            continue
        elif lexeme in _OPERATORS:
            operators += 1
            if operators > MAX_OPERATORS:
                raise PolicyTooComplex(ERR_TOO_LONG.format(limit=MAX_OPERATORS))
        if len(frames) - 1 + ifs > MAX_NESTING:
            raise PolicyTooComplex(ERR_TOO_DEEP.format(limit=MAX_NESTING))
