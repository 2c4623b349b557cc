"""The campaign definition form (create and edit). It shapes input into reviews.services.campaigns' keywords;
the service decides (scope selects something, the reviewer rule reaches someone, the cron parses), and its
field errors land beside the fields here."""

from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from identities.forms.base import Form
from identities.models import Action, Environment, IdentityKind, RiskTier, System, Tool
from reviews.models_campaigns import (
    CommentRule,
    IndependentReviewer,
    NoAnswerOutcome,
    Recurrence,
    ReviewerRule,
    StageSelects,
)
from reviews.services.campaigns import MAX_DESCRIPTION, MAX_NAME, ROLE_VALUES

ERR_DAYS_LIST = "Whole numbers of days, separated by commas (e.g. 7, 2)."
# The service's field → the form field that collects it.
ALIASES = {
    "stages": "duration_days", "scope": "identity_kinds", "stages.1.duration_days": "duration_days",
    "stages.1.no_answer_outcome": "no_answer_outcome", "stages.2.reviewer_rule": "second_reviewer_rule",
    "stages.2.selects": "second_selects", "stages.2.duration_days": "second_duration_days",
    "stages.2.no_answer_outcome": "second_no_answer_outcome",
}  # fmt: skip
CHECKS = forms.CheckboxSelectMultiple


def _many(choices, label, help_text=""):
    return forms.MultipleChoiceField(choices=choices, required=False, widget=CHECKS, label=label, help_text=help_text)


class CampaignForm(Form):
    name = forms.CharField(max_length=MAX_NAME)
    description = forms.CharField(max_length=MAX_DESCRIPTION, required=False, widget=forms.Textarea(attrs={"rows": 2}))
    identity_kinds = _many(IdentityKind.choices, "Identity kinds", "None ticked: every kind.")
    risk_tiers = _many(RiskTier.choices, "Risk tiers")
    environments = _many(Environment.choices, "Environments")
    sensitivities = _many(RiskTier.choices, "Tool sensitivity")
    actions = _many(Action.choices, "Actions")
    systems = forms.ModelMultipleChoiceField(System.objects.order_by("name"), to_field_name="uuid", required=False,
                                             widget=forms.SelectMultiple(attrs={"size": 4}))  # fmt: skip
    tools = forms.ModelMultipleChoiceField(Tool.objects.order_by("key"), to_field_name="uuid", required=False,
                                           widget=forms.SelectMultiple(attrs={"size": 4}))  # fmt: skip
    owners = forms.ModelMultipleChoiceField(
        get_user_model().objects.filter(groups__name="identity_owner").order_by("username").distinct(),
        to_field_name="username", required=False, widget=forms.SelectMultiple(attrs={"size": 4}),
        label="Accountable owners",
    )  # fmt: skip
    standing_only = forms.BooleanField(required=False, label="Standing access only (no JIT grants)")
    unused_days = forms.IntegerField(min_value=1, max_value=3650, required=False, label="Only unused for (days)",
                                     help_text="Leave empty to review used and unused access alike.")  # fmt: skip
    outside_acceptable_use = forms.BooleanField(required=False, label="Only access outside acceptable use")
    include_entitlements = forms.BooleanField(required=False, initial=True, label="Review entitlements")
    privileged_roles = _many([(r, r.replace("_", " ").capitalize()) for r in ROLE_VALUES], "AgentIAM roles",
                             "Holders of these roles are reviewed too (the product's own access).")  # fmt: skip
    reviewer_rule = forms.ChoiceField(choices=ReviewerRule.choices, initial=ReviewerRule.OWNER)
    fallback_group = forms.ModelChoiceField(Group.objects.order_by("name"), to_field_name="name", required=False)
    independent_reviewer = forms.ChoiceField(
        choices=IndependentReviewer.choices, initial=IndependentReviewer.PRIVILEGED,
        label="Independent reviewer (never whoever granted it)",
    )  # fmt: skip
    duration_days = forms.IntegerField(min_value=1, max_value=365, initial=14, label="Duration (days)")
    no_answer_outcome = forms.ChoiceField(choices=NoAnswerOutcome.choices, initial=NoAnswerOutcome.KEEP,
                                          label="When nobody answers")  # fmt: skip
    second_stage = forms.BooleanField(required=False, label="Add a second stage")
    second_reviewer_rule = forms.ChoiceField(choices=ReviewerRule.choices, initial=ReviewerRule.MANAGER,
                                             required=False, label="Second stage: reviewer")  # fmt: skip
    second_selects = forms.ChoiceField(choices=[c for c in StageSelects.choices if c[0] != "all"], required=False,
                                       label="Second stage: reviews")  # fmt: skip
    second_duration_days = forms.IntegerField(min_value=1, max_value=365, initial=7, required=False,
                                              label="Second stage: duration (days)")  # fmt: skip
    second_no_answer_outcome = forms.ChoiceField(choices=NoAnswerOutcome.choices, initial=NoAnswerOutcome.ESCALATE,
                                                 required=False, label="Second stage: when nobody answers")  # fmt: skip
    reminder_days = forms.CharField(required=False, max_length=60, initial="7, 2",
                                    label="Reminders (days before the deadline)")  # fmt: skip
    escalate_after_days = forms.IntegerField(min_value=1, max_value=365, required=False,
                                             label="Escalate after (days without an answer)")  # fmt: skip
    comment_required = forms.ChoiceField(choices=CommentRule.choices, initial=CommentRule.KEEP_FLAGGED)
    recurrence = forms.ChoiceField(choices=Recurrence.choices, initial=Recurrence.ONCE, widget=forms.RadioSelect)
    cron = forms.CharField(required=False, max_length=100, help_text="e.g. 0 6 1 */3 * — 06:00 on the first day of "
                           "every third month.", widget=forms.TextInput(attrs={"class": "mono"}))  # fmt: skip
    timezone = forms.CharField(max_length=64, initial="UTC")

    def clean_reminder_days(self) -> list[int]:
        raw = self.cleaned_data["reminder_days"] or ""
        try:
            return [int(part) for part in raw.replace(" ", "").split(",") if part]
        except ValueError:
            raise forms.ValidationError(ERR_DAYS_LIST) from None

    def service_kwargs(self) -> dict:
        data = dict(self.cleaned_data)
        stages = [{"duration_days": data.pop("duration_days"), "no_answer_outcome": data.pop("no_answer_outcome")}]
        second = {key: data.pop(f"second_{key}") for key in ("reviewer_rule", "selects", "duration_days",
                                                              "no_answer_outcome")}  # fmt: skip
        if data.pop("second_stage"):
            stages.append({key: value for key, value in second.items() if value not in (None, "")})
        data["stages"] = stages
        for field in ("systems", "tools", "owners"):
            data[field] = list(data[field])
        return data

    @classmethod
    def initial_for(cls, campaign) -> dict:
        stages = list(campaign.stages.order_by("number"))
        initial = {field: getattr(campaign, field) for field in (
            "name", "description", "identity_kinds", "risk_tiers", "environments", "sensitivities", "actions",
            "standing_only", "unused_days", "outside_acceptable_use", "include_entitlements", "privileged_roles",
            "reviewer_rule", "independent_reviewer", "escalate_after_days", "comment_required", "recurrence", "cron",
            "timezone")}  # fmt: skip
        initial.update({
            "systems": list(campaign.systems.all()), "tools": list(campaign.tools.all()),
            "owners": list(campaign.owners.all()), "fallback_group": campaign.fallback_group,
            "reminder_days": ", ".join(str(d) for d in campaign.reminder_days),
            "duration_days": stages[0].duration_days, "no_answer_outcome": stages[0].no_answer_outcome,
        })  # fmt: skip
        if len(stages) > 1:
            initial.update({"second_stage": True, "second_reviewer_rule": stages[1].reviewer_rule,
                            "second_selects": stages[1].selects, "second_duration_days": stages[1].duration_days,
                            "second_no_answer_outcome": stages[1].no_answer_outcome})  # fmt: skip
        return initial
