"""Forms of the approval-rule and delegation pages. They parse and shape input; reviews.services.rule_changes
decides (the rule is validated as the database would, the delegate must be an approver)."""

from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db.models import Q

from agentiam.permissions import Role
from identities.models import Action, DataClass, Environment, RiskTier
from reviews.models import AUTO_APPROVE_MAX_SECONDS, ApprovalRule
from reviews.services.rule_changes import ERR_APPROVERS, ERR_AUTO_APPROVERS, ERR_AUTO_LONG, ERR_ELIGIBLE

# A service's field name → this form's (the duration is in minutes here).
RULE_ALIASES = {"max_duration_seconds": "max_duration_minutes"}
DELEGATION_ALIASES = {"starts_at": "starts_at", "ends_at": "ends_at"}
ANY = [("", "Any")]
SECRETS = [("", "Either"), ("yes", "Production-secret tools only"), ("no", "Not production-secret tools")]

ERR_NOTHING_CHANGED = "Change at least one field of the rule."


class ConfirmForm(forms.Form):
    """A confirmation that takes no input (apply, withdraw, revoke): the hidden field makes the POST say so."""

    confirm = forms.CharField(widget=forms.HiddenInput, initial="yes")


def no_arguments(_data) -> dict:
    return {}


class ReasonForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=2000,
        label="Why",
        help_text="The second administrator reads this before applying it.",
    )


class RuleForm(ReasonForm):
    """A rule's fields as an administrator proposes them (create, or edit an existing rule)."""

    name = forms.CharField(max_length=200)
    priority = forms.IntegerField(
        min_value=1, max_value=2**31 - 1, help_text="Lowest first: the first enabled rule that matches a scope applies."
    )
    risk_tier = forms.ChoiceField(choices=ANY + list(RiskTier.choices), required=False, label="Identity risk tier")
    tool_sensitivity = forms.ChoiceField(choices=ANY + list(RiskTier.choices), required=False)
    data_class = forms.ChoiceField(choices=ANY + list(DataClass.choices), required=False)
    environment = forms.ChoiceField(choices=ANY + list(Environment.choices), required=False)
    action = forms.ChoiceField(choices=ANY + list(Action.choices), required=False)
    production_secrets = forms.ChoiceField(choices=SECRETS, required=False, label="Production secrets")
    auto_approve = forms.BooleanField(required=False, label="Approve at once (recorded; at most an hour)")
    approvals_needed = forms.IntegerField(min_value=0, max_value=5, initial=1, label="Approvers needed")
    eligible_approvals = forms.IntegerField(
        min_value=1,
        max_value=5,
        required=False,
        label="Approvers needed when eligible",
        help_text="Fewer, where an eligibility covers the scope; blank: the same.",
    )
    max_duration_minutes = forms.IntegerField(
        min_value=1, max_value=60 * 24 * 30, initial=60, label="Longest duration (minutes)"
    )
    approver_group = forms.ModelChoiceField(
        queryset=Group.objects.order_by("name"),
        required=False,
        empty_label="None: the owner's manager and routing",
        help_text="Its members may decide these requests as well.",
    )
    allows_break_glass = forms.BooleanField(required=False, label="Break-glass may cover production-secret tools")

    field_order = [
        "name",
        "priority",
        "risk_tier",
        "tool_sensitivity",
        "data_class",
        "environment",
        "action",
        "production_secrets",
        "auto_approve",
        "approvals_needed",
        "eligible_approvals",
        "max_duration_minutes",
        "approver_group",
        "allows_break_glass",
        "reason",
    ]

    def clean(self):
        data = super().clean()
        auto, needed = data.get("auto_approve"), data.get("approvals_needed")
        if needed is not None:
            if auto and needed != 0:
                self.add_error("approvals_needed", ERR_AUTO_APPROVERS)
            elif not auto and needed < 1:
                self.add_error("approvals_needed", ERR_APPROVERS)
        minutes = data.get("max_duration_minutes")
        if auto and minutes and minutes * 60 > AUTO_APPROVE_MAX_SECONDS:
            self.add_error("max_duration_minutes", ERR_AUTO_LONG)
        eligible = data.get("eligible_approvals")
        if eligible is not None and needed is not None and eligible > needed:
            self.add_error("eligible_approvals", ERR_ELIGIBLE)
        return data

    def rule_fields(self) -> dict:
        """The rule's fields as the service takes them (JSON-friendly: the group by its id)."""
        data = self.cleaned_data
        secrets = {"": None, "yes": True, "no": False}[data["production_secrets"] or ""]
        group = data.get("approver_group")
        return {
            "name": data["name"].strip(),
            "priority": data["priority"],
            "risk_tier": data["risk_tier"],
            "tool_sensitivity": data["tool_sensitivity"],
            "data_class": data["data_class"],
            "environment": data["environment"],
            "action": data["action"],
            "production_secrets": secrets,
            "auto_approve": data["auto_approve"],
            "approvals_needed": data["approvals_needed"],
            "eligible_approvals": data.get("eligible_approvals"),
            "max_duration_seconds": data["max_duration_minutes"] * 60,
            "approver_group": group.pk if group else None,
            "allows_break_glass": data["allows_break_glass"],
        }


def rule_initial(rule: ApprovalRule) -> dict:
    """A rule's fields as RuleForm shows them (an edit starts from the rule as it is)."""
    secrets = {None: "", True: "yes", False: "no"}[rule.production_secrets]
    return {
        "name": rule.name,
        "priority": rule.priority,
        "risk_tier": rule.risk_tier,
        "tool_sensitivity": rule.tool_sensitivity,
        "data_class": rule.data_class,
        "environment": rule.environment,
        "action": rule.action,
        "production_secrets": secrets,
        "auto_approve": rule.auto_approve,
        "approvals_needed": rule.approvals_needed,
        "eligible_approvals": rule.eligible_approvals,
        "max_duration_minutes": rule.max_duration_seconds // 60,
        "approver_group": rule.approver_group_id,
        "allows_break_glass": rule.allows_break_glass,
    }


def changed_fields(rule: ApprovalRule, proposed: dict) -> dict:
    """Only what an edit changes (so the change shows exactly that, and applies nothing else)."""
    current = {name: getattr(rule, "approver_group_id" if name == "approver_group" else name) for name in proposed}
    return {name: value for name, value in proposed.items() if current[name] != value}


def approvers():
    """Persons who may hold approvals (active; the manager role, or in a group an approval rule names)."""
    return (
        get_user_model()
        .objects.filter(is_active=True)
        .filter(Q(groups__name=Role.MANAGER.value) | Q(groups__approval_rules__isnull=False))
        .distinct()
        .order_by("first_name", "last_name", "username")
    )


class PersonChoice(forms.ModelChoiceField):
    def label_from_instance(self, person) -> str:
        full = person.get_full_name()
        return f"{full} ({person.username})" if full else person.username


DATETIME = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")


class DelegationForm(forms.Form):
    """An approver names a delegate for a period; an administrator may name it for any approver."""

    delegate = PersonChoice(
        queryset=None,
        to_field_name="username",
        help_text="Another approver: requests routed to you go to them during the period.",
    )
    starts_at = forms.DateTimeField(widget=DATETIME, label="From (UTC)")
    ends_at = forms.DateTimeField(widget=DATETIME, label="Until (UTC)")
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}), max_length=2000, required=False, help_text="Optional, e.g. “holiday”."
    )

    def __init__(self, *args, user, on_behalf: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["delegate"].queryset = approvers().exclude(pk=user.pk) if not on_behalf else approvers()
        if on_behalf:
            self.fields["approver"] = PersonChoice(
                queryset=approvers(),
                to_field_name="username",
                required=False,
                empty_label="Me",
                label="Away approver",
                help_text="Administrators may name a delegate for any approver.",
            )
            self.order_fields(["approver", "delegate", "starts_at", "ends_at", "reason"])

    def clean(self):
        data = super().clean()
        starts, ends = data.get("starts_at"), data.get("ends_at")
        if starts and ends and ends <= starts:
            self.add_error("ends_at", "The period ends after it starts.")
        return data
