"""Pieces every registry view uses: finding an identity the actor may see and what they may do to it (the
rights in identities.rules; answering a service's refusal is agentiam.adapters)."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404
from django.urls import reverse

from identities import rules
from identities.models import IdentityStatus
from identities.models.registry import Identity, standing
from identities.rules import Right


def identity_or_404(request, uuid, action: str = "view") -> Identity:
    queryset = Identity.objects.restrict(request.user, action).select_related(
        "parent", "person", "tier_override_by", "created_by"
    )
    return get_object_or_404(queryset, uuid=uuid)


@dataclass(frozen=True)
class Abilities:
    """What the signed-in person may do to one identity — identities.rules, read ahead so pages offer only
    what will be accepted (the services still decide)."""

    standing: rules.Standing
    active: bool

    def may(self, right: Right) -> bool:
        return rules.may(right, self.standing).allowed

    def offers(self, right: Right) -> bool:
        return rules.offer(right, self.standing, active=self.active)

    @property
    def is_owner(self) -> bool:
        return self.standing.owns

    @property
    def admin_not_owner(self) -> bool:
        return self.may(Right.ADMINISTER)

    @property
    def can_change(self) -> bool:
        return self.may(Right.CHANGE)

    @property
    def can_add_aup(self) -> bool:
        return self.may(Right.APPROVE_AUP)

    @property
    def can_grant(self) -> bool:
        return self.offers(Right.GRANT_READ)

    @property
    def can_grant_privileged(self) -> bool:
        return self.offers(Right.GRANT_PRIVILEGED)

    @property
    def can_accept_risk(self) -> bool:
        return self.may(Right.ACCEPT_RISK)

    @property
    def can_override(self) -> bool:
        return self.may(Right.ADMINISTER)

    @property
    def can_suspend(self) -> bool:
        return self.offers(Right.SUSPEND)

    @property
    def can_resume(self) -> bool:
        return self.offers(Right.RESUME)

    @property
    def grantable_actions(self) -> list[str]:
        if self.may(Right.GRANT_PRIVILEGED):
            return ["read", "write", "admin", "execute"]
        return ["read"] if self.may(Right.GRANT_READ) else []


def abilities(request, identity: Identity) -> Abilities:
    return Abilities(standing(identity, request.user), active=identity.status == IdentityStatus.ACTIVE)


def require(allowed: bool, message: str) -> None:
    if not allowed:
        raise PermissionDenied(message)


def identity_url(identity: Identity, anchor: str = "") -> str:
    return reverse("identity", args=[identity.uuid]) + (f"#{anchor}" if anchor else "")
