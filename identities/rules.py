"""Who may see, change or grant on one identity, and why not: the registry's rights, written once.

Pure: the facts about a person and one identity go in (their roles, the ownerships they hold on it, whether
they manage one of its owners), an `Answer` with the refusal's reason comes out. Pages ask it so they offer
only what will be accepted, services ask it to refuse, and `Identity.objects.restrict()` compiles the very
same conditions into a `Q` (`where()`), so a list and a yes/no cannot disagree. The import planner keeps
set-wise SQL; tests/imports/test_import_rules.py pins it to these rules on a matrix of cases.

    answer = may(Right.GRANT_PRIVILEGED, Standing(roles=roles_of(user), ownership=frozenset({"technical"})))
    answer.allowed, answer.reason  # False, ERR_PRIVILEGED_NEEDS_ADMIN
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from itertools import product

from django.core.exceptions import PermissionDenied
from django.db.models import Q

from agentiam.permissions import SEE_EVERYTHING, Role

__all__ = [
    "ADMINISTRATORS",
    "CHANGERS",
    "READERS",
    "RESUMERS",
    "SUSPENDERS",
    "Answer",
    "Right",
    "Standing",
    "gate",
    "lowers",
    "may",
    "offer",
    "sees_every_identity",
    "where",
]

ACCOUNTABLE = "accountable"  # identities.models.OwnershipRole.ACCOUNTABLE (models import this module)

ERR_NOT_VISIBLE = "You may not see this identity."
ERR_NOT_OWNER = "Only a current owner of this identity or an administrator may change it."
ERR_ADMIN_OWNS = "Administrators may not make this change on an identity they own."
ERR_ONLY_ADMIN = "Only an administrator may make this change."
ERR_READ_ONLY_OWNER = "Owners may grant standing read access only; write, admin and execute need an administrator."
ERR_PRIVILEGED_NEEDS_ADMIN = (
    "Standing write, admin or execute access needs an administrator who does not own this identity."
)
ERR_LOWER_TIER = (
    "This change would lower the identity's risk tier: only an administrator who does not own it may make it."
)
ERR_ACCEPT_RISK = "Only an administrator who does not own this identity may accept its risk."
ERR_SUSPEND_ROLE = "Only an administrator, a security analyst or an owner of this identity may suspend it."
ERR_RESUME_ROLE = "Only an administrator or a security analyst who does not own this identity may resume it."
ERR_AUP_APPROVER = "An acceptable-use record must be approved by a current accountable owner."
ERR_TASK_END = "Only a security analyst, or someone who may change this identity, may end its tasks."
ERR_MAY_NOT = "Only the task's identity, an owner of it or a security analyst may complete this task."


class Right(StrEnum):
    VIEW = "view"
    CHANGE = "change"  # edit it, its owners, identifiers and credentials; revoke its access
    GRANT_READ = "grant_read"
    GRANT_PRIVILEGED = "grant_privileged"  # standing write, admin or execute
    ADMINISTER = "administer"  # risk-tier override, runtime trust configuration
    LOWER_TIER = "lower_tier"  # a change of its declared inputs (environment, exposure, ...) that lowers its tier
    ACCEPT_RISK = "accept_risk"
    SUSPEND = "suspend"
    RESUME = "resume"
    APPROVE_AUP = "approve_aup"
    END_TASK = "end_task"  # through the registry
    COMPLETE_TASK = "complete_task"  # a person through the runtime endpoint (the agent itself aside)


@dataclass(frozen=True)
class Standing:
    """How one person stands to one identity."""

    roles: frozenset[Role]
    ownership: frozenset[str] = frozenset()  # the ownership roles they hold on it now
    manages_an_owner: bool = False  # one of its current owners reports to them

    @property
    def owns(self) -> bool:
        return bool(self.ownership)


@dataclass(frozen=True)
class Answer:
    allowed: bool
    reason: str = ""

    def __bool__(self) -> bool:
        return self.allowed

    def check(self) -> None:
        """Raise the refusal as PermissionDenied (a 403 with the reason)."""
        if not self.allowed:
            raise PermissionDenied(self.reason)


# --- conditions: evaluated on a Standing, or compiled into a Q over identities --------------------------------

Fold = bool | Q


@dataclass(frozen=True)
class Relations:
    """How `where()` says "the person owns it" and "manages one of its owners" in a query."""

    owns: Callable[[frozenset[str] | None], Q]
    manages_an_owner: Callable[[], Q]


class Condition:
    def holds(self, standing: Standing) -> bool:
        raise NotImplementedError

    def fold(self, roles: frozenset[Role], relations: Relations) -> Fold:
        """Roles are known when the query is built: they fold to constants, the rest become EXISTS."""
        raise NotImplementedError

    def __and__(self, other: Condition) -> Condition:
        return All((self, other))

    def __or__(self, other: Condition) -> Condition:
        return Either((self, other))

    def __invert__(self) -> Condition:
        return Not(self)


@dataclass(frozen=True)
class HasRole(Condition):
    roles: frozenset[Role]

    def holds(self, standing: Standing) -> bool:
        return bool(standing.roles & self.roles)

    def fold(self, roles, relations) -> Fold:
        return bool(roles & self.roles)


@dataclass(frozen=True)
class Owns(Condition):
    as_roles: frozenset[str] | None = None  # None: in any ownership role

    def holds(self, standing: Standing) -> bool:
        return bool(standing.ownership if self.as_roles is None else standing.ownership & self.as_roles)

    def fold(self, roles, relations) -> Fold:
        return relations.owns(self.as_roles)


@dataclass(frozen=True)
class ManagesAnOwner(Condition):
    def holds(self, standing: Standing) -> bool:
        return standing.manages_an_owner

    def fold(self, roles, relations) -> Fold:
        return relations.manages_an_owner()


@dataclass(frozen=True)
class Not(Condition):
    part: Condition

    def holds(self, standing: Standing) -> bool:
        return not self.part.holds(standing)

    def fold(self, roles, relations) -> Fold:
        folded = self.part.fold(roles, relations)
        return (not folded) if isinstance(folded, bool) else ~folded


@dataclass(frozen=True)
class All(Condition):
    parts: tuple[Condition, ...]

    def holds(self, standing: Standing) -> bool:
        return all(part.holds(standing) for part in self.parts)

    def fold(self, roles, relations) -> Fold:
        return _fold(self.parts, roles, relations, decisive=False, op=Q.__and__)


@dataclass(frozen=True)
class Either(Condition):
    parts: tuple[Condition, ...]

    def holds(self, standing: Standing) -> bool:
        return any(part.holds(standing) for part in self.parts)

    def fold(self, roles, relations) -> Fold:
        return _fold(self.parts, roles, relations, decisive=True, op=Q.__or__)


def _fold(parts, roles, relations, *, decisive: bool, op) -> Fold:
    """AND (decisive False) or OR (decisive True) of the parts: a part that folds to `decisive` decides it,
    one that folds to the other constant drops out, the rest are combined with `op`."""
    queries = []
    for part in parts:
        folded = part.fold(roles, relations)
        if folded is decisive:
            return decisive
        if not isinstance(folded, bool):
            queries.append(folded)
    if not queries:
        return not decisive
    combined = queries[0]
    for query in queries[1:]:
        combined = op(combined, query)
    return combined


def role(*roles: Role) -> Condition:
    return HasRole(frozenset(roles))


# --- the rules -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    allow: Condition
    refusal: str  # the reason when none of `because` applies
    because: tuple[tuple[Condition, str], ...] = ()  # a more precise reason, the first that holds
    needs_active: bool | None = None  # pages offer it only on an active (True) or inactive (False) identity


SEES_ALL = HasRole(SEE_EVERYTHING)
OWNER = role(Role.IDENTITY_OWNER) & Owns()
ADMIN_NOT_OWNER = role(Role.ADMINISTRATOR) & ~Owns()
# Separation of duties: administrators change identities they do not own; owners change their own.
MAY_CHANGE = OWNER | ADMIN_NOT_OWNER

RULES: dict[Right, Rule] = {
    Right.VIEW: Rule(SEES_ALL | OWNER | (role(Role.MANAGER) & ManagesAnOwner()), ERR_NOT_VISIBLE),
    Right.CHANGE: Rule(MAY_CHANGE, ERR_NOT_OWNER),
    Right.GRANT_READ: Rule(MAY_CHANGE, ERR_NOT_OWNER, needs_active=True),
    Right.GRANT_PRIVILEGED: Rule(
        ADMIN_NOT_OWNER,
        ERR_PRIVILEGED_NEEDS_ADMIN,
        because=((~role(Role.ADMINISTRATOR) & Owns(), ERR_READ_ONLY_OWNER),),
        needs_active=True,
    ),
    Right.ADMINISTER: Rule(ADMIN_NOT_OWNER, ERR_ADMIN_OWNS, because=((~role(Role.ADMINISTRATOR), ERR_ONLY_ADMIN),)),
    Right.ACCEPT_RISK: Rule(ADMIN_NOT_OWNER, ERR_ACCEPT_RISK),
    # An owner declares the inputs of their identity's tier; one that lowers it is checked by someone else.
    Right.LOWER_TIER: Rule(ADMIN_NOT_OWNER, ERR_LOWER_TIER),
    Right.SUSPEND: Rule(role(Role.ADMINISTRATOR, Role.SECURITY_ANALYST) | OWNER, ERR_SUSPEND_ROLE, needs_active=True),
    Right.RESUME: Rule(role(Role.ADMINISTRATOR, Role.SECURITY_ANALYST) & ~Owns(), ERR_RESUME_ROLE, needs_active=False),
    Right.APPROVE_AUP: Rule(Owns(frozenset({ACCOUNTABLE})), ERR_AUP_APPROVER),
    Right.END_TASK: Rule(role(Role.SECURITY_ANALYST) | MAY_CHANGE, ERR_TASK_END),
    Right.COMPLETE_TASK: Rule(OWNER | role(Role.SECURITY_ANALYST), ERR_MAY_NOT),
}


def may(right: Right | str, standing: Standing) -> Answer:
    """May the person do `right` on the identity, and if not, why."""
    rule = RULES[Right(right)]
    if rule.allow.holds(standing):
        return Answer(True)
    reason = next((text for condition, text in rule.because if condition.holds(standing)), rule.refusal)
    return Answer(False, reason)


TIERS = ("low", "medium", "high", "critical")  # identities.models.RiskTier, lowest first


def lowers(before: str, after: str) -> bool:
    """Whether a change of the derived risk tier from `before` to `after` lowers it (Right.LOWER_TIER)."""
    return TIERS.index(after) < TIERS.index(before)


def offer(right: Right | str, standing: Standing, *, active: bool) -> bool:
    """Whether a page offers the change: allowed, on an identity in the state the change applies to (the
    services still decide, and answer a wrong state with a conflict)."""
    rule = RULES[Right(right)]
    return may(right, standing).allowed and (rule.needs_active is None or rule.needs_active == active)


def where(right: Right | str, roles: frozenset[Role], relations: Relations) -> Fold:
    """The identities on which a person with `roles` has `right`: True (all), False (none) or a Q."""
    return RULES[Right(right)].allow.fold(frozenset(roles), relations)


def sees_every_identity(roles: frozenset[Role]) -> bool:
    """The part of VIEW that roles alone decide: lists may then skip the identity filter altogether."""
    return SEES_ALL.holds(Standing(frozenset(roles)))


_SAMPLE_OWNERSHIPS = (frozenset(), frozenset({ACCOUNTABLE}), frozenset({"technical"}))


def gate(right: Right | str) -> frozenset[Role]:
    """The roles for which `right` can hold on some identity: the coarse check a view or endpoint declares
    (`roles_required`, `write_roles`) before the identity is known."""
    return frozenset(
        each
        for each, ownership, manages in product(Role, _SAMPLE_OWNERSHIPS, (False, True))
        if may(right, Standing(frozenset({each}), ownership, manages)).allowed
    )


READERS = gate(Right.VIEW)  # everyone with a role; owners and managers see their part only
CHANGERS = gate(Right.CHANGE)
SUSPENDERS = gate(Right.SUSPEND)
RESUMERS = gate(Right.RESUME)
ADMINISTRATORS = gate(Right.ADMINISTER)
