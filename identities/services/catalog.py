"""Registry writes about systems and tools (administrators only)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction

from agentiam.permissions import Role, roles_of
from audit.trail import audit_record
from identities.models import (
    Entitlement,
    Identity,
    System,
    Tool,
)
from identities.services.refresh import identity_refresh

__all__ = [
    "system_create",
    "tool_create",
    "tool_update",
]


def _require_registry_admin(actor) -> None:
    if Role.ADMINISTRATOR not in roles_of(actor):
        raise PermissionDenied("Only an administrator may change systems and tools.")


# --- systems and tools ------------------------------------------------------------------------------------


@transaction.atomic
def system_create(*, actor, request=None, **fields: Any) -> System:
    _require_registry_admin(actor)
    system = System(**fields)
    system.full_clean()
    system.save()
    audit_record(actor=actor, action="system.create", target=system, request=request, changes=fields)
    return system


@transaction.atomic
def tool_create(*, actor, system: System, request=None, **fields: Any) -> Tool:
    _require_registry_admin(actor)
    tool = Tool(system=system, **fields)
    tool.full_clean()
    tool.save()
    audit_record(
        actor=actor,
        action="tool.create",
        target=tool,
        request=request,
        changes={"system": system.name, **{k: v for k, v in fields.items()}},
    )
    return tool


@transaction.atomic
def tool_update(*, tool: Tool, actor, request=None, **fields: Any) -> Tool:
    """Changing a tool's flags changes the risk of every identity with standing access to it."""
    _require_registry_admin(actor)
    tool = Tool.objects.select_for_update().get(pk=tool.pk)
    before = {k: getattr(tool, k) for k in fields}
    for name, value in fields.items():
        setattr(tool, name, value)
    tool.full_clean()
    tool.save()
    if {"production", "production_secrets"} & set(fields):
        holder_ids = Entitlement.objects.filter(tool=tool, revoked_at__isnull=True).values("identity_id")
        for identity in Identity.objects.filter(pk__in=holder_ids).order_by("pk").select_for_update():
            identity_refresh(identity)
    audit_record(
        actor=actor,
        action="tool.update",
        target=tool,
        request=request,
        changes={k: [before[k], getattr(tool, k)] for k in fields if before[k] != getattr(tool, k)},
    )
    return tool
