"""What attesting a review item needs to know, read from the database: the frozen definition's rules (comment,
fallback group), who the campaign's reviewer rule names for an item (for reassignment), and the facts
reviews.rules.may_review asks about. Services and pages both read them here, so a page offers only what the
service will accept."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet

from identities.models import OwnershipRole, PersonStatus, current_ownerships
from reviews.models_campaigns import CommentRule, ItemDecision, ReviewerRule, ReviewItem
from reviews.rules import Reviewed, may_review

__all__ = ["comment_needed", "definition_value", "eligible_people", "eligible_reviewers", "reviewed"]


def definition_value(item: ReviewItem, name: str, default=None):
    """A field of the campaign as it was frozen at launch (the run's `definition`), else the live one."""
    frozen = item.run.definition or {}
    if name in frozen:
        return frozen[name]
    return getattr(item.run.campaign, name, default)


def _fallback_group_id(item: ReviewItem) -> int | None:
    frozen = item.run.definition or {}
    if "fallback_group" in frozen:  # the group's id as frozen at launch (reviews.campaigns.definition.freeze)
        value = frozen["fallback_group"]
        return value if isinstance(value, int) and not isinstance(value, bool) else None
    return item.run.campaign.fallback_group_id


def _reviewer_rule(item: ReviewItem) -> str:
    stages = (item.run.definition or {}).get("stages") or []
    for stage in stages:
        if isinstance(stage, dict) and stage.get("number") == item.stage and stage.get("reviewer_rule"):
            return stage["reviewer_rule"]
    return definition_value(item, "reviewer_rule", ReviewerRule.OWNER)


def comment_needed(item: ReviewItem, decision: str) -> bool:
    """Does this decision on this item need a comment? Keeping a flagged item always does; otherwise the
    definition's rule (every decision, revoke and reduce, or only keeping a flagged item)."""
    rule = definition_value(item, "comment_required", CommentRule.KEEP_FLAGGED)
    if decision == ItemDecision.REASSIGN:
        return True  # the note says why to the next reviewer
    if decision == ItemDecision.CERTIFY and item.flagged:
        return True
    if rule == CommentRule.ALL:
        return True
    return rule == CommentRule.REVOKE and decision in (ItemDecision.REVOKE, ItemDecision.REDUCE)


def eligible_people(item: ReviewItem) -> QuerySet:
    """Active persons the campaign's reviewer rule names for this item: under the owner rule any current owner
    of the identity; under the owner and manager rules the manager of its accountable owner (of the role holder,
    for an AgentIAM role); always the fallback group's members. Separation of duties is not applied here
    (reviewed() + may_review do that)."""
    rule = _reviewer_rule(item)
    where = Q(pk__in=[])
    if item.identity_id is not None:
        owners = current_ownerships().filter(identity_id=item.identity_id)
        if rule == ReviewerRule.OWNER:
            where |= Q(pk__in=owners.values("person_id"))
        if rule in (ReviewerRule.OWNER, ReviewerRule.MANAGER):
            accountable = owners.filter(role=OwnershipRole.ACCOUNTABLE)
            where |= Q(reports__user_id__in=accountable.values("person_id"))
    elif item.role_holder_id is not None and rule in (ReviewerRule.OWNER, ReviewerRule.MANAGER):
        where |= Q(reports__user_id=item.role_holder_id)
    group_id = _fallback_group_id(item)
    if group_id is not None:
        where |= Q(groups__id=group_id)
    return (
        get_user_model()
        .objects.filter(where, is_active=True, profile__status=PersonStatus.ACTIVE)
        .distinct()
        .order_by("last_name", "first_name", "username")
    )


def reviewed(item: ReviewItem, eligible: frozenset[int] | None = None) -> Reviewed:
    """The item's facts for reviews.rules.may_review (the copies made at launch, which a trigger keeps true)."""
    if eligible is None:
        eligible = frozenset(eligible_people(item).values_list("pk", flat=True))
    return Reviewed(
        holder=item.holder_person_id,
        requester=item.requested_by_id,
        granter=item.granted_by_id,
        independent=item.independent,
        prior=item.prior_decided_by_id,
        eligible=eligible,
    )


def eligible_reviewers(item: ReviewItem) -> list:
    """Persons this item may be reassigned to: named by the rule, allowed by separation of duties, not its
    current reviewer."""
    people = [person for person in eligible_people(item) if person.pk != item.reviewer_id]
    ids = frozenset(person.pk for person in people)
    facts = reviewed(item, ids)
    return [person for person in people if may_review(person.pk, facts)]
