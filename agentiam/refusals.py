"""Refused requests, told to whoever records them. agentiam imports no app: the audit app registers the two
recorders from its ready() (audit.security), and the refusal paths call `report` / `probe`:

- `report(request, status=, reason=, what=)` — from the answer paths every refusal takes: the DRF exception
  handler (agentiam.api.errors), form pages' `call_service` (agentiam.adapters) and the page 403 handler.
  A 403 to an *authenticated* caller on a write (POST, PUT, PATCH, DELETE) goes to `on_refused`, which
  writes a `<what>.refused` entry in the trail; a 401/403 to an anonymous caller on a write, or a credential
  that did not authenticate, goes to `on_probe` as `api.anonymous_write` / `api.bad_credential`.
- `probe(request, kind=, detail=)` — unauthenticated traffic at the runtime's machine endpoints (a failed
  proof at the token endpoint, a bad gateway credential): straight to `on_probe`.

`on_probe` never touches the chained trail (its writer holds an advisory lock anonymous traffic must not
queue behind); it writes the rate-limited security-event log. Reads (GET, HEAD) refused to an authenticated
person are not recorded: they change nothing and the page already says no.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)

WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True)
class Refusal:
    request: Any  # a Django HttpRequest (or DRF's Request around one)
    user: Any  # the authenticated caller: a person, or a principal with `audit_actor`
    status: int
    reason: str
    what: str  # e.g. "identity.suspend": the action that was refused


@dataclass(frozen=True)
class Probe:
    request: Any
    kind: str  # e.g. "token.invalid_grant", "gateway.unauthenticated", "api.anonymous_write"
    detail: str


_recorders: dict[str, Callable[[Any], None]] = {}


def register(*, on_refused: Callable[[Refusal], None], on_probe: Callable[[Probe], None]) -> None:
    _recorders["refused"], _recorders["probe"] = on_refused, on_probe


def _send(name: str, event: Refusal | Probe) -> None:
    recorder = _recorders.get(name)
    if recorder is None:
        return
    try:
        recorder(event)
    except Exception:  # recording a refusal must never turn it into a 500
        logger.exception("could not record a refused request (%s)", name)


def what_of(request, view=None) -> str:
    """The refused action's name: a viewset's `<basename>.<action>`, else the route's name."""
    basename, action = getattr(view, "basename", None), getattr(view, "action", None)
    if basename and action:
        return f"{basename}.{action}"
    match = getattr(request, "resolver_match", None)
    name = (match.view_name if match is not None else "") or "request"
    return name.replace(":", ".").replace("-", "_")[:70]


def report(request, *, status: int, reason: str, what: str | None = None, view=None) -> None:
    if request is None or getattr(request, "_agentiam_refusal_reported", False):
        return
    try:
        request._agentiam_refusal_reported = True
    except AttributeError:  # pragma: no cover - a request that takes no attributes
        return
    user = getattr(request, "user", None)
    method = getattr(request, "method", "GET")
    if user is not None and getattr(user, "is_authenticated", False):
        if status == 403 and method in WRITES:
            _send("refused", Refusal(request, user, status, reason[:500], what or what_of(request, view)))
        return
    if status == 401 and request.META.get("HTTP_AUTHORIZATION"):
        _send("probe", Probe(request, "api.bad_credential", reason[:300]))
    elif status in (401, 403) and method in WRITES:
        _send("probe", Probe(request, "api.anonymous_write", reason[:300]))


def probe(request, *, kind: str, detail: str) -> None:
    _send("probe", Probe(request, kind, detail[:300]))
