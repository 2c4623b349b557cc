"""Writes of the events app: ingest keys (administrators; the command line as a named job) and ingest itself.

Ingest writes no audit entry per batch: the events are themselves the record of what agents did, and one
trail entry per request would serialise every collector on the trail's lock. Everything about who may
write — keys, their scope, agent-name mappings, revocation — is audited.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from agentiam.errors import Conflict, invalid
from agentiam.permissions import Role, roles_of
from audit.actors import Actor
from audit.events.ingest import resolve, writer
from audit.events.ingest.auth import Caller, new_key
from audit.events.ingest.steps import Step
from audit.events.models import AgentNameMapping, IngestKey
from audit.trail import audit_record
from identities.models import Identity

__all__ = [
    "ERR_ADMIN_ONLY",
    "ERR_ALREADY_REVOKED",
    "ERR_NAME",
    "agent_name_map",
    "events_ingest",
    "ingest_key_create",
    "ingest_key_revoke",
]

ERR_ADMIN_ONLY = "Only an administrator may issue, scope or revoke ingest keys."
ERR_NAME = "Give the key a name of 1 to 100 characters that no other key has."
ERR_IDENTITY = "No identity has the public id {value}."
ERR_SERVICE = "A service name is 1 to 200 characters."
ERR_ALREADY_REVOKED = "This ingest key is already revoked."
ERR_AGENT_NAME = "An agent name is 1 to 200 characters."
ERR_AGENT_NAME_TAKEN = "This key already maps that agent name."


def _require_admin(actor) -> None:
    if isinstance(actor, Actor):  # the command line (manage.py), run by whoever administers the host
        return
    if Role.ADMINISTRATOR not in roles_of(actor):
        raise PermissionDenied(ERR_ADMIN_ONLY)


def _person(actor):
    return None if isinstance(actor, Actor) else actor


@transaction.atomic
def ingest_key_create(
    *, actor, name: str, all_identities: bool = False, identities: Iterable[str] = (),
    service_names: Iterable[str] = (), request=None,
) -> tuple[IngestKey, str]:  # fmt: skip
    """A new ingest key and its secret (shown once). Scoped to nothing unless identities or service names are
    given, or `all_identities` (a collector that may write for everyone)."""
    _require_admin(actor)
    name = (name or "").strip()
    if not name or len(name) > 100 or IngestKey.objects.filter(name=name).exists():
        raise invalid("name", ERR_NAME)
    wanted = list(dict.fromkeys(str(value).strip() for value in identities if str(value).strip()))
    found = {str(i.uuid): i for i in Identity.objects.filter(uuid__in=_uuids(wanted, "identities"))}
    for value in wanted:
        if value not in found:
            raise invalid("identities", ERR_IDENTITY.format(value=value))
    services = list(dict.fromkeys(s.strip() for s in service_names if s and s.strip()))
    if any(len(s) > 200 for s in services):
        raise invalid("service_names", ERR_SERVICE)
    secret = new_key()
    key = IngestKey.objects.create(
        name=name,
        prefix=secret.prefix,
        digest=secret.digest,
        all_identities=all_identities,
        service_names=services,
        created_by=_person(actor),
    )
    key.identities.set(found.values())
    audit_record(
        actor=actor,
        action="ingest_key.create",
        target=key,
        request=request,
        changes={"all_identities": all_identities, "identities": sorted(found), "service_names": services},
    )
    return key, secret.token


def _uuids(values: list[str], field: str) -> list[str]:
    out = []
    for value in values:
        try:
            out.append(str(uuid.UUID(value)))
        except ValueError:
            raise invalid(field, ERR_IDENTITY.format(value=value)) from None
    return out


@transaction.atomic
def ingest_key_revoke(*, actor, key: IngestKey, request=None) -> IngestKey:
    _require_admin(actor)
    key = IngestKey.objects.select_for_update().get(pk=key.pk)
    if key.revoked_at is not None:
        raise Conflict(ERR_ALREADY_REVOKED)
    key.revoked_at, key.revoked_by = timezone.now(), _person(actor)
    key.save(update_fields=["revoked_at", "revoked_by"])
    audit_record(actor=actor, action="ingest_key.revoke", target=key, request=request, changes={})
    return key


@transaction.atomic
def agent_name_map(*, actor, key: IngestKey, agent_name: str, identity: Identity, request=None) -> AgentNameMapping:
    """For `key`, spans naming `gen_ai.agent.name` = agent_name act for `identity`."""
    _require_admin(actor)
    agent_name = (agent_name or "").strip()
    if not agent_name or len(agent_name) > 200:
        raise invalid("agent_name", ERR_AGENT_NAME)
    if AgentNameMapping.objects.filter(ingest_key=key, agent_name=agent_name).exists():
        raise invalid("agent_name", ERR_AGENT_NAME_TAKEN)
    mapping = AgentNameMapping.objects.create(
        ingest_key=key, agent_name=agent_name, identity=identity, created_by=_person(actor)
    )
    audit_record(
        actor=actor,
        action="ingest_key.map_agent_name",
        target=key,
        request=request,
        changes={"agent_name": agent_name, "identity": str(identity.uuid)},
    )
    return mapping


@transaction.atomic
def events_ingest(*, caller: Caller, steps: list[Step], now: datetime | None = None) -> writer.Written:
    """Resolve whose each step is and write them all, in one transaction (nothing is written when it fails)."""
    now = now or timezone.now()
    resolve.resolve(steps, caller, now)
    return writer.write(steps, ingested_at=now, key_id=caller.key.pk if caller.key else None)
