"""Deciding per-call re-authorisations: an approver allows one matching call (within 5 minutes) or denies it.

Separation of duties is reviews.rules' `may_decide`, as for elevation requests: a manager (or a member of the
approver group of the rule that would apply to this tool and action), never the identity's own person or
the person acting for it, never a current owner. The state lives in the runtime (its `CallAuthorisation`,
read and consumed by `decide`); this flips it through the runtime's public service, whose row trigger checks
the same persons again.
"""

from __future__ import annotations

from django.db import transaction
from django.http import Http404

from identities.models import Identity, current_ownerships
from identities.rules import Answer
from identities.runtime.models import CallAuthorisation
from identities.runtime.services.percall import call_authorisation_decide
from reviews import rules
from reviews.services import facts

__all__ = ["call_approve", "call_deny", "may_decide_call"]


def _asked(call: CallAuthorisation) -> rules.Asked:
    identity = call.identity
    owners = current_ownerships().filter(identity=identity).values_list("person_id", flat=True)
    persons = {identity.person_id, call.actor.person_id if call.actor_id else None} - {None}
    # The agent asked for itself: its person (a human identity's, or the acting one's) is the requester.
    return rules.Asked(
        requester=identity.person_id, owners=frozenset(owners), holders=frozenset(persons), decided_by=frozenset()
    )


def may_decide_call(call: CallAuthorisation, actor) -> Answer:
    """May `actor` approve or deny this call? (The inbox asks before it offers the buttons.)"""
    group_id = facts.rule_for(call.identity, [(call.tool, call.action)], {}).approver_group_id
    candidate = facts.candidate(actor.pk, group_id)
    if not candidate.in_approver_group and not Identity.objects.restrict(actor).filter(pk=call.identity_id).exists():
        raise Http404
    return rules.may_decide(candidate, _asked(call))


def _load(call: CallAuthorisation) -> CallAuthorisation:
    return CallAuthorisation.objects.select_related("identity", "actor", "tool").get(pk=call.pk)


@transaction.atomic
def call_approve(*, call: CallAuthorisation, actor, comment: str = "", request=None) -> CallAuthorisation:
    """Allow exactly one decision matching this call (identity, task, tool, action, resource) for 5 minutes."""
    found = _load(call)
    may_decide_call(found, actor).check()
    return call_authorisation_decide(call=found, actor=actor, approve=True, comment=comment, request=request)


@transaction.atomic
def call_deny(*, call: CallAuthorisation, actor, comment: str = "", request=None) -> CallAuthorisation:
    """Deny this call; the agent's next matching call asks again."""
    found = _load(call)
    may_decide_call(found, actor).check()
    return call_authorisation_decide(call=found, actor=actor, approve=False, comment=comment, request=request)
