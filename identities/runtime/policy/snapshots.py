"""Typed inputs of a decision: the registry's state as the service read it, and the request's context.

Identity, acceptable use and tool snapshots are hashable: they are the keys of the evaluator's entity
cache. Times are aware datetimes; what is in force is decided against RequestContext.now, never the
wall clock, so a late background job cannot keep an expired grant alive.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class AcceptableUseSnapshot:
    valid_from: datetime
    valid_until: datetime | None
    tools: frozenset[str]

    def in_force(self, now: datetime) -> bool:
        return self.valid_from <= now and (self.valid_until is None or now < self.valid_until)


@dataclass(frozen=True)
class IdentitySnapshot:
    id: str
    kind: str
    status: str
    risk_tier: str
    environment: str
    owners_active: bool
    acceptable_use: AcceptableUseSnapshot | None = None


@dataclass(frozen=True)
class ToolSnapshot:
    key: str
    sensitivity: str
    production: bool = False
    production_secrets: bool = False


@dataclass(frozen=True)
class EntitlementSnapshot:
    id: str
    tool_key: str
    action: str  # read / write / admin / execute
    mode: str  # standing / jit
    scope: Mapping[str, str] = field(default_factory=dict)
    valid_from: datetime | None = None
    expires_at: datetime | None = None
    revoked: bool = False
    grant_id: str | None = None  # the grant a JIT entitlement came from

    def in_force(self, now: datetime) -> bool:
        return (
            not self.revoked
            and (self.valid_from is None or self.valid_from <= now)
            and (self.expires_at is None or now < self.expires_at)
        )


@dataclass(frozen=True)
class GrantSnapshot:
    id: str
    starts_at: datetime
    ends_at: datetime
    task_id: str | None = None
    ended: bool = False  # revoked, or ended with its task

    def in_force(self, now: datetime, task_id: str | None) -> bool:
        bound_elsewhere = self.task_id is not None and self.task_id != task_id
        return not self.ended and not bound_elsewhere and self.starts_at <= now < self.ends_at


@dataclass(frozen=True)
class ExceptionSnapshot:
    """An accepted exception to one rule, for the identity or for one of its entitlements."""

    id: str
    rule_id: str
    valid_from: datetime
    valid_until: datetime
    entitlement_id: str | None = None
    revoked: bool = False

    def in_force(self, now: datetime) -> bool:
        return not self.revoked and self.valid_from <= now < self.valid_until


@dataclass(frozen=True)
class TaskSnapshot:
    id: str
    completed: bool = False


@dataclass(frozen=True)
class TokenSnapshot:
    jti: str
    expires_at: datetime
    scopes: frozenset[str]  # "tool_key:action"
    revoked: bool = False


@dataclass(frozen=True)
class RequestContext:
    now: datetime
    task: TaskSnapshot | None = None
    token: TokenSnapshot | None = None
    environment: str = ""
    chain_depth: int = 0
    act_chain: tuple[str, ...] = ()  # current actor first, as in the nested `act` claim


@dataclass(frozen=True)
class DecisionRequest:
    identity: IdentitySnapshot
    tool: ToolSnapshot
    action: str
    context: RequestContext
    resource: Mapping[str, str] = field(default_factory=dict)  # attributes matched against scopes
    entitlements: tuple[EntitlementSnapshot, ...] = ()
    grants: tuple[GrantSnapshot, ...] = ()
    exceptions: tuple[ExceptionSnapshot, ...] = ()
