"""Deciding per-call re-authorisations: an approver allows one matching call (within 5 minutes) or denies it.

Who decides is resolved as for elevation requests, at decision time: any member of the approver group of
the rule that would apply to this tool and action, or the person routing names — starting at the accountable
owner's manager, following live delegations, falling back to managers above, skipping everyone
reviews.rules' `may_decide` bars: never the identity's own person or the person acting for it, never a
current owner, only a manager or a member of the group. The state lives in the runtime (its
`CallAuthorisation`, read and consumed by `decide`); this flips it through the runtime's public service,
whose row trigger checks the same persons again. reviews.call_queries answers the same for every pending
call at once (lists, the inbox's slot, the work list).
"""

from __future__ import annotations

from django.db import transaction
from django.http import Http404
from django.utils import timezone

from identities.models import Identity, OwnershipRole, Profile, current_ownerships
from identities.rules import Answer
from identities.runtime.models import CallAuthorisation
from identities.runtime.services.percall import call_authorisation_decide
from reviews import rules
from reviews.models import ApprovalRule, Delegation
from reviews.services import facts

__all__ = ["ERR_CALL_NOT_ROUTED", "asked_for_call", "call_approve", "call_deny", "group_for", "may_decide_call"]

ERR_CALL_NOT_ROUTED = "This call is routed to another approver (the owner's manager, their delegate or one above)."


def asked_for_call(call: CallAuthorisation, owners) -> rules.Asked:
    """The persons separation of duties bars from deciding this call (`owners`: the identity's current owners)."""
    identity = call.identity
    persons = {identity.person_id, call.actor.person_id if call.actor_id else None} - {None}
    # The agent asked for itself: its person (a human identity's, or the acting one's) is the requester.
    return rules.Asked(requester=identity.person_id, owners=frozenset(owners), holders=frozenset(persons))


def group_for(call: CallAuthorisation, enabled: list[ApprovalRule]) -> int | None:
    """The approver group of the rule that would apply to this call's tool and action (`enabled`: the enabled
    rules by priority, read once by the caller)."""
    rule = next((r for r in enabled if facts._matches(r, call.identity, call.tool, call.action)), None)
    return rule.approver_group_id if rule is not None else None


def _routed(call: CallAuthorisation, asked: rules.Asked, group_id: int | None) -> int | None:
    """Who routing names for this call now (reviews.rules.route, as facts.slots does for a request's slot)."""
    now = timezone.now()
    accountable = (
        current_ownerships().filter(identity=call.identity_id, role=OwnershipRole.ACCOUNTABLE).order_by("pk").first()
    )
    start = None
    if accountable is not None:
        start = Profile.objects.filter(user_id=accountable.person_id).values_list("manager_id", flat=True).first()
    live = Delegation.objects.filter(starts_at__lte=now, ends_at__gt=now, revoked_at__isnull=True)
    delegate_of = facts._Lookup(lambda person: live.filter(approver_id=person).order_by("-created_at"), "delegate_id")
    manager_of = facts._Lookup(lambda person: Profile.objects.filter(user_id=person, manager__isnull=False),
                               "manager_id")  # fmt: skip
    return rules.route(
        start,
        delegate_of=delegate_of,
        manager_of=manager_of,
        eligible=lambda person: rules.may_decide(facts.candidate(person, group_id), asked),
    ).person


def may_decide_call(call: CallAuthorisation, actor) -> Answer:
    """May `actor` approve or deny this call? A call they may not see (neither its identity's viewer, nor in
    its group, nor routed to) is a 404; else separation of duties, then routing."""
    group_id = group_for(call, list(ApprovalRule.objects.filter(enabled=True).order_by("priority")))
    candidate = facts.candidate(actor.pk, group_id)
    owners = current_ownerships().filter(identity=call.identity_id).values_list("person_id", flat=True)
    asked = asked_for_call(call, owners)
    routed = None if candidate.in_approver_group else _routed(call, asked, group_id)
    visible = candidate.in_approver_group or routed == actor.pk
    if not visible and not Identity.objects.restrict(actor).filter(pk=call.identity_id).exists():
        raise Http404
    answer = rules.may_decide(candidate, asked)
    if answer and not candidate.in_approver_group and routed != actor.pk:
        return Answer(False, ERR_CALL_NOT_ROUTED)
    return answer


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
