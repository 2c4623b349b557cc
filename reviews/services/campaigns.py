"""Campaign definitions: create, edit, archive, preview and launch (compliance officers).

Every refusal names its field (ValidationError) and writes nothing; a definition is saved only when its scope
selects something and its reviewer rule can route to someone. The recurrence is a django-celery-beat
PeriodicTask kept in step with the definition in the same transaction. A launch creates the run and hands it
to the worker on commit (reviews.services.launching does the set-wise work)."""

from __future__ import annotations

import json
import zoneinfo
from collections.abc import Iterable

from celery.schedules import crontab
from django.contrib.auth.models import Group
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from agentiam.errors import Conflict, PermissionDenied, invalid
from agentiam.permissions import Role, has_role
from audit.trail import audit_record
from identities.models import Action, Environment, IdentityKind, RiskTier
from reviews.campaigns import sql
from reviews.campaigns.definition import facts_at, freeze
from reviews.models_campaigns import (
    CAMPAIGN_MAX_DAYS,
    CAMPAIGN_MAX_STAGES,
    Campaign,
    CampaignRun,
    CampaignStage,
    CommentRule,
    IndependentReviewer,
    NoAnswerOutcome,
    Recurrence,
    ReviewerRule,
    RunState,
    StageSelects,
)
from reviews.services.launching import launch_enqueue

__all__ = [
    "ERR_ARCHIVED",
    "ERR_COMPLIANCE_ONLY",
    "ERR_CRON",
    "ERR_EMPTY_SCOPE",
    "ERR_FALLBACK_EMPTY",
    "ERR_LAUNCHING",
    "ERR_NOBODY_ROUTED",
    "campaign_archive",
    "campaign_create",
    "campaign_launch",
    "campaign_launch_skipped",
    "campaign_preview",
    "campaign_update",
]

MAX_NAME, MAX_DESCRIPTION, MAX_LIST = 200, 4000, 200
ERR_COMPLIANCE_ONLY = "Only a compliance officer may define and launch review campaigns."
ERR_ARCHIVED = "This campaign is archived."
ERR_LAUNCHING = "This campaign is launching already: wait for its items."
ERR_EMPTY_SCOPE = "This scope selects no entitlement and no role holder: nothing would be reviewed."
ERR_FALLBACK_EMPTY = "The fallback group has no active member: the reviewer rule would point at nobody."
ERR_NOBODY_ROUTED = "Under this reviewer rule nobody may review any item in scope: name a fallback group."
ERR_CRON = "Give five cron fields (minute hour day-of-month month day-of-week), e.g. 0 6 1 */3 *: {error}"
ERR_CRON_ONCE = "A one-off campaign has no cron expression."
ERR_TIMEZONE = "Unknown time zone: use an IANA name such as Europe/Paris or UTC."
ERR_NAME_TAKEN = "Another campaign has this name."
ERR_TEXT = "At most {limit} characters, and no NUL character."
ERR_CHOICE = "Unknown value {value!r}: choose from {choices}."
ERR_STAGES = "Give 1 to {max} stages; the first reviews every item, a later one what the previous kept."
ERR_DAYS = f"A whole number of days from 1 to {CAMPAIGN_MAX_DAYS}."
ERR_UNUSED_DAYS = "A whole number of days from 1 to 3650, or nothing."
ERR_REMINDERS = f"Days before the deadline, each 1 to {CAMPAIGN_MAX_DAYS}, at most 10 of them."

ROLE_VALUES = sorted(role.value for role in Role)
LIST_CHOICES = {
    "identity_kinds": IdentityKind.values,
    "risk_tiers": RiskTier.values,
    "environments": Environment.values,
    "sensitivities": RiskTier.values,
    "actions": Action.values,
    "privileged_roles": ROLE_VALUES,
}
CHOICES = {
    "reviewer_rule": ReviewerRule.values,
    "independent_reviewer": IndependentReviewer.values,
    "comment_required": CommentRule.values,
    "recurrence": Recurrence.values,
}
SCALARS = ("name", "description", "standing_only", "unused_days", "outside_acceptable_use", "include_entitlements",
           "reviewer_rule", "fallback_group", "independent_reviewer", "reminder_days", "escalate_after_days",
           "comment_required", "recurrence", "cron", "timezone", *LIST_CHOICES)  # fmt: skip
RELATIONS = ("systems", "tools", "owners")
FIELDS = (*SCALARS, *RELATIONS, "stages")


def _require_compliance(actor) -> None:
    if not has_role(actor, Role.COMPLIANCE_OFFICER):
        raise PermissionDenied(ERR_COMPLIANCE_ONLY)


def _text(field: str, value: str, limit: int, required: bool = False) -> str:
    if not isinstance(value, str) or len(value) > limit or "\x00" in value:
        raise invalid(field, ERR_TEXT.format(limit=limit))
    value = value.strip()
    if required and not value:
        raise invalid(field, "This field is required.")
    return value


def _choice(field: str, value, choices: Iterable[str]) -> str:
    choices = list(choices)
    if value not in choices:
        raise invalid(field, ERR_CHOICE.format(value=value, choices=", ".join(choices)))
    return value


def _days(field: str, value, *, optional: bool = False, maximum: int = CAMPAIGN_MAX_DAYS, message=ERR_DAYS):
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= maximum:
        raise invalid(field, message)
    return value


def cron_checked(expression: str) -> str:
    """The expression, normalised to single spaces, or a ValidationError on `cron` saying why."""
    expression = _text("cron", expression, 100)
    parts = expression.split()
    if len(parts) != 5:
        raise invalid("cron", ERR_CRON.format(error=f"{len(parts)} fields given"))
    try:
        crontab(minute=parts[0], hour=parts[1], day_of_month=parts[2], month_of_year=parts[3], day_of_week=parts[4])
    except (ValueError, IndexError, KeyError) as error:
        raise invalid("cron", ERR_CRON.format(error=error)) from None
    return " ".join(parts)


def _stages(given) -> list[dict]:
    if not isinstance(given, list) or not 1 <= len(given) <= CAMPAIGN_MAX_STAGES:
        raise invalid("stages", ERR_STAGES.format(max=CAMPAIGN_MAX_STAGES))
    stages = []
    for number, stage in enumerate(given, start=1):
        if not isinstance(stage, dict):
            raise invalid("stages", ERR_STAGES.format(max=CAMPAIGN_MAX_STAGES))
        selects = stage.get("selects") or (StageSelects.ALL if number == 1 else StageSelects.KEEPS_HIGH)
        allowed = [StageSelects.ALL] if number == 1 else [StageSelects.KEEPS_HIGH, StageSelects.KEEPS]
        stages.append({
            "number": number,
            "name": _text(f"stages.{number}.name", stage.get("name", ""), 100),
            "reviewer_rule": _choice(f"stages.{number}.reviewer_rule",
                                     stage.get("reviewer_rule", ReviewerRule.OWNER if number == 1 else
                                               ReviewerRule.MANAGER), ReviewerRule.values),
            "selects": _choice(f"stages.{number}.selects", selects, allowed),
            "duration_days": _days(f"stages.{number}.duration_days", stage.get("duration_days", 14)),
            "no_answer_outcome": _choice(f"stages.{number}.no_answer_outcome",
                                         stage.get("no_answer_outcome", NoAnswerOutcome.KEEP), NoAnswerOutcome.values),
        })  # fmt: skip
    return stages


def _checked(values: dict) -> dict:
    """Every field of a definition checked on its own; refusals name the field."""
    unknown = sorted(set(values) - set(FIELDS))
    if unknown:
        raise invalid(unknown[0], "Not a field of a campaign definition.")
    out = dict(values)
    if "name" in out:
        out["name"] = _text("name", out["name"], MAX_NAME, required=True)
    if "description" in out:
        out["description"] = _text("description", out["description"], MAX_DESCRIPTION)
    for field, choices in LIST_CHOICES.items():
        if field in out:
            given = out[field] or []
            if not isinstance(given, list | tuple) or len(given) > MAX_LIST:
                raise invalid(field, f"A list of at most {MAX_LIST} values.")
            out[field] = sorted({_choice(field, value, choices) for value in given})
    for field, choices in CHOICES.items():
        if field in out:
            out[field] = _choice(field, out[field], choices)
    for field in ("standing_only", "outside_acceptable_use", "include_entitlements"):
        if field in out and not isinstance(out[field], bool):
            raise invalid(field, "true or false.")
    if "unused_days" in out:
        out["unused_days"] = _days("unused_days", out["unused_days"], optional=True, maximum=3650,
                                   message=ERR_UNUSED_DAYS)  # fmt: skip
    if "escalate_after_days" in out:
        out["escalate_after_days"] = _days("escalate_after_days", out["escalate_after_days"], optional=True)
    if "reminder_days" in out:
        given = out["reminder_days"] or []
        if not isinstance(given, list | tuple) or len(given) > 10:
            raise invalid("reminder_days", ERR_REMINDERS)
        out["reminder_days"] = sorted({_days("reminder_days", d, message=ERR_REMINDERS) for d in given}, reverse=True)
    if "timezone" in out:
        name = _text("timezone", out["timezone"] or "UTC", 64)
        if name not in zoneinfo.available_timezones():
            raise invalid("timezone", ERR_TIMEZONE)
        out["timezone"] = name
    if "cron" in out:
        out["cron"] = cron_checked(out["cron"]) if (out["cron"] or "").strip() else ""
    if "fallback_group" in out and out["fallback_group"] is not None and not isinstance(out["fallback_group"], Group):
        raise invalid("fallback_group", "Name a group.")
    if "stages" in out:
        out["stages"] = _stages(out["stages"])
    return out


def _coherent(campaign: Campaign) -> None:
    """What holds across fields (the database's CHECKs repeated, so the refusal names a field)."""
    if campaign.recurrence == Recurrence.CRON and not campaign.cron:
        raise invalid("cron", ERR_CRON.format(error="a recurring campaign needs one"))
    if campaign.recurrence == Recurrence.ONCE and campaign.cron:
        raise invalid("cron", ERR_CRON_ONCE)
    if campaign.reviewer_rule == ReviewerRule.FALLBACK and campaign.fallback_group is None:
        raise invalid("fallback_group", "The fallback-only rule needs a fallback group.")
    if not campaign.include_entitlements and not campaign.privileged_roles:
        raise invalid("include_entitlements", ERR_EMPTY_SCOPE)
    if campaign.fallback_group is not None:
        members = campaign.fallback_group.user_set.filter(is_active=True, profile__status="active")
        if not members.exists():
            raise invalid("fallback_group", ERR_FALLBACK_EMPTY)
    if Campaign.objects.filter(name=campaign.name).exclude(pk=campaign.pk).exists():
        raise invalid("name", ERR_NAME_TAKEN)


def _apply(campaign: Campaign, values: dict) -> list[dict] | None:
    for field in SCALARS:
        if field in values:
            setattr(campaign, field, values[field])
    return values.get("stages")


def _save_relations(campaign: Campaign, values: dict, stages: list[dict] | None) -> None:
    for field in RELATIONS:
        if field in values:
            getattr(campaign, field).set(list(values[field] or []))
    if stages is not None:
        campaign.stages.all().delete()
        CampaignStage.objects.bulk_create(CampaignStage(campaign=campaign, **stage) for stage in stages)
    stage_one = campaign.stages.filter(number=1).first()
    if stage_one is None:
        CampaignStage.objects.create(campaign=campaign, number=1, reviewer_rule=campaign.reviewer_rule)
    elif stage_one.reviewer_rule != campaign.reviewer_rule:  # the first stage follows the campaign's rule
        CampaignStage.objects.filter(pk=stage_one.pk).update(reviewer_rule=campaign.reviewer_rule)


def _sync_schedule(campaign: Campaign) -> None:
    """The PeriodicTask that launches a recurring campaign (django-celery-beat's database scheduler)."""
    if campaign.recurrence != Recurrence.CRON or campaign.archived_at is not None:
        if campaign.periodic_task_id:
            PeriodicTask.objects.filter(pk=campaign.periodic_task_id).update(enabled=False)
        return
    minute, hour, day_of_month, month_of_year, day_of_week = campaign.cron.split()
    schedule, _ = CrontabSchedule.objects.get_or_create(
        minute=minute, hour=hour, day_of_month=day_of_month, month_of_year=month_of_year,
        day_of_week=day_of_week, timezone=campaign.timezone,
    )  # fmt: skip
    fields = {
        "crontab": schedule,
        "interval": None,
        "task": "reviews.tasks.launch_scheduled_campaign",
        "kwargs": json.dumps({"campaign": str(campaign.uuid)}),
        "enabled": True,
        "description": f"Launches the review campaign {campaign.name!r}",
    }
    if campaign.periodic_task_id:
        PeriodicTask.objects.filter(pk=campaign.periodic_task_id).update(**fields)
        PeriodicTask.objects.get(pk=campaign.periodic_task_id).save()  # beat notices the change
    else:
        task = PeriodicTask.objects.create(name=f"review campaign {campaign.uuid}", **fields)
        Campaign.objects.filter(pk=campaign.pk).update(periodic_task=task)
        campaign.periodic_task = task


def _must_select_something(campaign: Campaign) -> dict:
    """The preview of what the campaign would review now; refuses an empty scope or nobody to review."""
    figures = campaign_preview(campaign=campaign)
    if figures["items"] == 0:
        raise invalid(_narrowest_field(campaign), ERR_EMPTY_SCOPE)
    if figures["items"] == figures["unrouted"]:
        raise invalid("reviewer_rule", ERR_NOBODY_ROUTED)
    return figures


def _narrowest_field(campaign: Campaign) -> str:
    """The scope field to name when the scope selects nothing: the last one set, else the scope as a whole."""
    for field in ("privileged_roles", "outside_acceptable_use", "unused_days", "standing_only", "owners", "tools",
                  "systems", "actions", "sensitivities", "environments", "risk_tiers", "identity_kinds"):  # fmt: skip
        value = getattr(campaign, field)
        if field in RELATIONS:
            value = value.exists()
        if value:
            return field
    return "scope"


def _changes(campaign: Campaign) -> dict:
    frozen = freeze(campaign)
    return {key: frozen[key] for key in ("name", "scope", "reviewer_rule", "fallback_group_name",
                                          "independent_reviewer", "stages", "reminder_days", "escalate_after_days",
                                          "comment_required", "recurrence", "cron", "timezone")}  # fmt: skip


@transaction.atomic
def campaign_create(*, actor, request=None, **values) -> Campaign:
    """A new definition (stage 1 by default: the accountable owners, 14 days, kept when nobody answers)."""
    _require_compliance(actor)
    values = _checked(values)
    if "name" not in values:
        raise invalid("name", "This field is required.")
    campaign = Campaign(created_by=actor)
    stages = _apply(campaign, values)
    _coherent(campaign)
    campaign.save()
    _save_relations(campaign, values, stages)
    _must_select_something(campaign)
    _sync_schedule(campaign)
    audit_record(actor=actor, action="campaign.create", target=campaign, request=request, changes=_changes(campaign))
    return campaign


@transaction.atomic
def campaign_update(*, campaign: Campaign, actor, request=None, **values) -> Campaign:
    """Edit a definition; runs already launched keep the definition they froze."""
    _require_compliance(actor)
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if campaign.archived_at is not None:
        raise Conflict(ERR_ARCHIVED)
    values = _checked(values)
    before = _changes(campaign)
    stages = _apply(campaign, values)
    campaign.updated_by = actor
    _coherent(campaign)
    campaign.save()
    _save_relations(campaign, values, stages)
    _must_select_something(campaign)
    _sync_schedule(campaign)
    after = _changes(campaign)
    changed = {key: {"from": before[key], "to": after[key]} for key in after if before[key] != after[key]}
    audit_record(actor=actor, action="campaign.update", target=campaign, request=request, changes=changed)
    return campaign


@transaction.atomic
def campaign_archive(*, campaign: Campaign, actor, request=None) -> Campaign:
    """No more launches (its schedule is disabled); its runs stay as they are."""
    _require_compliance(actor)
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if campaign.archived_at is not None:
        raise Conflict(ERR_ARCHIVED)
    campaign.archived_at = timezone.now()
    campaign.updated_by = actor
    campaign.save(update_fields=["archived_at", "updated_by", "updated_at"])
    _sync_schedule(campaign)
    audit_record(actor=actor, action="campaign.archive", target=campaign, request=request)
    return campaign


def campaign_preview(*, campaign: Campaign, heaviest: int = 5) -> dict:
    """What a launch now would create: items, identities, reviewers, flagged (revoke recommended), keep,
    unrouted items, and the heaviest reviewers (person id, items, flagged). One statement; writes nothing."""
    definition = freeze(campaign)
    facts = facts_at(definition, timezone.now())
    params = _preview_params(facts.params(), definition)
    with connection.cursor() as cursor:
        cursor.execute(sql.PREVIEW, params)
        rows = cursor.fetchall()
    reviewers = [(reviewer, items, flagged) for reviewer, items, flagged, _, _ in rows if reviewer is not None]
    return {
        "items": sum(row[1] for row in rows),
        "flagged": sum(row[2] for row in rows),
        "keep": sum(row[3] for row in rows),
        "unrouted": sum(row[1] for row in rows if row[0] is None),
        "reviewers": len(reviewers),
        "heaviest": reviewers[:heaviest],
    }


def _preview_params(params: dict, definition: dict) -> dict:
    scope = definition["scope"]
    return {**params, "unused_filter": scope["unused_days"] is not None,
            "outside_filter": scope["outside_acceptable_use"]}  # fmt: skip


@transaction.atomic
def campaign_launch(*, campaign: Campaign, actor, request=None) -> CampaignRun:
    """A new run of the campaign, handed to the worker once this commits (reviews.tasks.launch_campaign_run).
    `actor` None: launched by its schedule."""
    if actor is not None:
        _require_compliance(actor)
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if campaign.archived_at is not None:
        raise Conflict(ERR_ARCHIVED)
    if campaign.runs.filter(state=RunState.LAUNCHING).exists():
        raise Conflict(ERR_LAUNCHING)
    figures = _must_select_something(campaign)
    number = (campaign.runs.aggregate(last=Max("number"))["last"] or 0) + 1
    run = CampaignRun.objects.create(
        campaign=campaign, number=number, launched_by=actor, launched_at=timezone.now(), definition=freeze(campaign)
    )
    transaction.on_commit(lambda: launch_enqueue(str(run.uuid)))
    preview = {key: value for key, value in figures.items() if key != "heaviest"}
    audit_record(
        actor=actor, action="campaign.launch", target=campaign, request=request,
        changes={"run": str(run.uuid), "number": number, "preview": preview},
    )  # fmt: skip
    return run


@transaction.atomic
def campaign_launch_skipped(*, campaign: Campaign, reason: str) -> None:
    """A scheduled launch that did not happen, and why (the trail is where an operator looks)."""
    audit_record(actor=None, action="campaign.launch_skipped", target=campaign, changes={"reason": reason[:500]})
