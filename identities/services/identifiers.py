"""Identifiers (SPIFFE IDs, OIDC subjects...) of an identity and the workflows it belongs to."""

from __future__ import annotations

from django.db import transaction

from agentiam.errors import invalid
from audit.trail import audit_record
from identities.models import (
    Identifier,
    IdentifierKind,
    Identity,
    Workflow,
)
from identities.services.identity import Right, require
from identities.services.refresh import identity_refresh
from identities.spiffe import InvalidSpiffeId, normalise_spiffe_id

__all__ = [
    "identifier_add",
    "identifier_remove",
    "normalise_identifier",
    "workflow_attach",
]


def normalise_identifier(kind: str, value: str) -> str:
    value = (value or "").strip()
    if not value:
        raise invalid("value", "value is required.")
    if kind == IdentifierKind.SPIFFE:
        try:
            return normalise_spiffe_id(value)
        except InvalidSpiffeId as error:
            raise invalid("value", f"Invalid SPIFFE ID: {error}.") from None
    if kind == IdentifierKind.OIDC_SUBJECT and "|" not in value:
        raise invalid("value", "An OIDC subject is written issuer|subject.")
    return value


@transaction.atomic
def identifier_add(
    *,
    identity: Identity,
    actor,
    kind: str,
    value: str,
    workflow: Workflow | None = None,
    external_id: str | None = None,
    request=None,
) -> Identifier:
    identity = Identity.objects.select_for_update().get(pk=identity.pk)
    require(Right.CHANGE, identity, actor)
    value = normalise_identifier(kind, value)
    if Identifier.objects.filter(value=value).exists():
        raise invalid("value", "This identifier already belongs to an identity.")
    identifier = Identifier.objects.create(
        identity=identity, kind=kind, value=value, workflow=workflow, external_id=external_id
    )
    audit_record(
        actor=actor, action="identifier.add", target=identity, request=request, changes={"kind": kind, "value": value}
    )
    return identifier


@transaction.atomic
def identifier_remove(*, identifier: Identifier, actor, request=None) -> None:
    identity = Identity.objects.select_for_update().get(pk=identifier.identity_id)
    require(Right.CHANGE, identity, actor)
    value = identifier.value
    identifier.delete()
    audit_record(actor=actor, action="identifier.remove", target=identity, request=request, changes={"value": value})


@transaction.atomic
def workflow_attach(*, identity: Identity, workflow: Workflow, actor, request=None) -> None:
    identity = Identity.objects.select_for_update().get(pk=identity.pk)
    require(Right.CHANGE, identity, actor)
    workflow.identities.add(identity)
    identity_refresh(identity)
    audit_record(
        actor=actor, action="workflow.attach", target=identity, request=request, changes={"workflow": workflow.name}
    )
