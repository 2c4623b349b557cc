"""One trace as a tree of steps (pure): parents through span ids, folded ones included; a step whose parent is
not among the visible steps is a root. Walked without recursion, so a chain of thousands stays flat."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MAX_STEPS = 5000


@dataclass(frozen=True)
class Node:
    kind: str  # "open" (a nested list starts), "step", "close"
    step: Any = None
    depth: int = 0
    size: int = 0  # an "open": how many steps sit directly in the list it starts


def parents(steps: list) -> dict[int, Any]:
    """id(step) → the step it sits under (None for a root): the step that owns its parent span id."""
    owner = {}
    for step in steps:
        for span in (step.span_id, *step.folded_span_ids):
            owner.setdefault(span, step)
    out = {}
    for step in steps:
        parent = owner.get(step.parent_span_id) if step.parent_span_id else None
        out[id(step)] = None if parent is step else parent
    return out


def tree(steps: list) -> tuple[list[Node], int, int]:
    """(the walk as open/step/close tokens, the deepest depth, the widest fan-out)."""
    above = parents(steps)
    children: dict[int, list] = {}
    roots = []
    for step in steps:
        parent = above[id(step)]
        if parent is None:
            roots.append(step)
        else:
            children.setdefault(id(parent), []).append(step)
    out: list[Node] = [Node("open", size=len(roots))]
    deepest = 0
    stack: list[tuple[Any, int, bool]] = [(step, 0, False) for step in reversed(roots)]
    while stack:
        step, depth, done = stack.pop()
        if done:
            out.append(Node("close", depth=depth))
            continue
        deepest = max(deepest, depth)
        out.append(Node("step", step, depth))
        below = children.get(id(step), [])
        if below:
            out.append(Node("open", depth=depth + 1, size=len(below)))
            stack.append((step, depth + 1, True))
            stack.extend((child, depth + 1, False) for child in reversed(below))
    out.append(Node("close"))
    widest = max((len(v) for v in children.values()), default=0)
    return out, deepest, max(widest, len(roots))
