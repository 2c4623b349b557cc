"""Whose step is it: the identity resolved for every step of one request, in a fixed number of queries.

The order (issue 12): a task token presented with the request (the `Authorization` one, or an event's own
`task_token`); then a registered identifier equal to the public id named, the identifier named,
`gen_ai.agent.id` or `service.name`; then an explicit mapping of `gen_ai.agent.name` for the ingest key —
never a bare name match, since frameworks put workflow names there. An MCP SERVER span comes from the tool
server's process, so it acts for its caller: the identity of its parent span (in the request or already
stored), else it waits in quarantine (`caller_unknown`) until the caller's span folds into it.

A step whose identity the credential may not write for, or that matches nobody, is kept in quarantine:
`identity` empty, `quarantine` saying why, `claimed` what the producer named.
"""

from __future__ import annotations

from datetime import datetime

from django.db import connection

from audit.events.ingest.auth import Caller, verify_tokens
from audit.events.ingest.steps import Step
from audit.events.models import QuarantineReason


def _identities_by_uuid(uuids: set[str]) -> dict[str, int]:
    if not uuids:
        return {}
    with connection.cursor() as cursor:
        cursor.execute("SELECT uuid::text, id FROM identities_identity WHERE uuid = ANY(%s::uuid[])", [sorted(uuids)])
        return dict(cursor.fetchall())


def _identifiers(values: set[str]) -> dict[str, int]:
    if not values:
        return {}
    with connection.cursor() as cursor:
        cursor.execute("SELECT value, identity_id FROM identities_identifier WHERE value = ANY(%s)", [sorted(values)])
        return dict(cursor.fetchall())


def _agent_names(caller: Caller, names: set[str]) -> dict[str, int]:
    if caller.key is None or not names:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT agent_name, identity_id FROM audit_events_agentnamemapping "
            "WHERE ingest_key_id = %s AND agent_name = ANY(%s)",
            [caller.key.pk, sorted(names)],
        )
        return dict(cursor.fetchall())


def _stored_callers(steps: list[Step]) -> dict[tuple[str, str], int | None]:
    """(trace, span id) → identity of a stored step, for the parents of tool-server spans."""
    wanted = {(step.trace_id, step.parent_span_id) for step in steps if step.parent_span_id}
    if not wanted:
        return {}
    traces = sorted({trace for trace, _ in wanted})
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT trace_id, span_id, folded_span_ids, identity_id FROM audit_events_actionevent "
            "WHERE trace_id = ANY(%s)",
            [traces],
        )
        found: dict[tuple[str, str], int | None] = {}
        for trace, span, folded, identity in cursor.fetchall():
            for one in (span, *folded):
                if (trace, one) in wanted:
                    found[(trace, one)] = identity
    return found


def resolve(steps: list[Step], caller: Caller, now: datetime) -> None:
    """Fill identity_id, task_id, token_jti and quarantine of every step."""
    tokens = verify_tokens([step.claimed.task_token for step in steps if step.claimed.task_token], now)
    by_uuid = _identities_by_uuid({step.claimed.identity for step in steps if step.claimed.identity})
    values = set()
    for step in steps:
        values.update(v for v in (step.claimed.identifier, step.claimed.agent_id) if v)
        if step.claimed.service_name and not step.server_side:
            values.add(step.claimed.service_name)
    identifiers = _identifiers(values)
    names = _agent_names(caller, {step.claimed.agent_name for step in steps if step.claimed.agent_name})

    unresolved_servers = []
    for step in steps:
        identity, jti, task = None, "", None
        claimed = step.claimed
        if claimed.task_token:
            token = tokens.get(claimed.task_token)
            if token is not None:
                identity, jti, task = token.identity_id, token.jti, token.task_id
        elif claimed.identity:
            identity = by_uuid.get(claimed.identity)
        elif claimed.identifier:
            identity = identifiers.get(claimed.identifier)
        elif caller.token is not None:  # sent with the agent's own token: every step is the agent's
            identity = caller.token.identity_id
        elif step.server_side:
            unresolved_servers.append(step)
            continue
        else:
            identity = (
                identifiers.get(claimed.agent_id)
                or identifiers.get(claimed.service_name)
                or names.get(claimed.agent_name)
            )
        if caller.token is not None and identity == caller.token.identity_id and not jti:
            jti, task = caller.token.jti, caller.token.task_id
        _settle(step, caller, identity, jti, task)

    if unresolved_servers:
        in_request = {}
        for step in steps:
            for span in (step.span_id, *step.folded):
                in_request[(step.trace_id, span)] = step
        stored = _stored_callers([s for s in unresolved_servers if (s.trace_id, s.parent_span_id) not in in_request])
        for step in unresolved_servers:
            parent = in_request.get((step.trace_id, step.parent_span_id))
            if parent is not None and parent is not step:
                identity = parent.identity_id
            else:
                identity = stored.get((step.trace_id, step.parent_span_id))
            if identity is None:
                step.identity_id, step.quarantine = None, QuarantineReason.CALLER_UNKNOWN
            else:
                _settle(step, caller, identity, "", None)
    _name_out_of_scope(steps)


def _settle(step: Step, caller: Caller, identity: int | None, jti: str, task: int | None) -> None:
    if identity is None:
        step.identity_id, step.quarantine = None, QuarantineReason.UNKNOWN_IDENTITY
    elif not caller.may_write_for(identity) and not jti:
        # kept for the analyst, who sees which identity it named; attached only once someone confirms it
        step.identity_id, step.quarantine, step.out_of_scope = None, QuarantineReason.OUT_OF_SCOPE, identity
    else:
        step.identity_id, step.quarantine, step.token_jti, step.task_id = identity, "", jti, task


def _name_out_of_scope(steps: list[Step]) -> None:
    ids = {step.out_of_scope for step in steps if step.out_of_scope}
    if not ids:
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, uuid::text FROM identities_identity WHERE id = ANY(%s)", [sorted(ids)])
        public = dict(cursor.fetchall())
    for step in steps:
        if step.out_of_scope:
            step.claimed.identity = step.claimed.identity or public.get(step.out_of_scope, "")
