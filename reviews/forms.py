"""Forms of elevation requests in the browser: asking (an owner, for an identity they may change), deciding
(approve, possibly less than asked, or deny) and withdrawing. They shape input; reviews.services decides."""

from __future__ import annotations

from django import forms
from django.core.validators import MaxValueValidator

from identities.forms import ScopeMixin
from identities.forms.base import Form
from reviews.models import Urgency
from reviews.services.requests import MAX_JUSTIFICATION

# A service's field → the form field that collects it.
ASK_ALIASES = {"duration_seconds": "duration_minutes", "scope": "scope_json"}
DECIDE_ALIASES = {"duration_seconds": "duration_minutes", "scope": "scope_json"}

ERR_CHOOSE_SCOPE = "Choose at least one scope."


def minutes(seconds: int) -> str:
    """A duration in words: "45 min", "4 h", "1 h 30 min"."""
    hours, rest = divmod(max(int(seconds) // 60, 0), 60)
    if hours and rest:
        return f"{hours} h {rest} min"
    return f"{hours} h" if hours else f"{rest} min"


class RequestForm(ScopeMixin, Form):
    """What an owner asks for: scopes the identity's acceptable use allows, on one task, for a while."""

    scopes = forms.MultipleChoiceField(
        widget=forms.CheckboxSelectMultiple,
        label="Access",
        error_messages={"required": ERR_CHOOSE_SCOPE},
    )
    task = forms.CharField(
        max_length=200,
        label="Task",
        help_text="An open task of this identity, or a new name: the grant is bound to it and ends with it.",
        widget=forms.TextInput(attrs={"list": "open-tasks", "autocomplete": "off", "class": "mono"}),
    )
    justification = forms.CharField(
        max_length=MAX_JUSTIFICATION,
        label="Why",
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="What the task needs this for. The approver reads it.",
    )
    duration_minutes = forms.IntegerField(min_value=1, label="For how long (minutes)")
    urgency = forms.ChoiceField(choices=Urgency.choices, initial=Urgency.NORMAL, widget=forms.RadioSelect)

    def __init__(self, *args, options: list[dict], longest: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["scopes"].choices = [(option["value"], option["value"]) for option in options]
        cap = max(longest // 60, 1)
        self.fields["duration_minutes"].validators.append(MaxValueValidator(cap))
        self.fields["duration_minutes"].widget.attrs["max"] = cap
        self.fields["duration_minutes"].initial = min(60, max(longest // 60, 1))
        self.fields["duration_minutes"].help_text = (
            f"At most {minutes(longest)} for the longest-capped access here; each scope's cap is beside it, and a "
            "request takes the shortest cap of what it asks."
        )
        self.add_scope_fields()

    def clean(self):
        data = super().clean()
        data["scope"] = self.clean_scope(data)
        return data

    def service_kwargs(self) -> dict:
        data = self.cleaned_data
        return {
            "scopes": list(data["scopes"]),
            "task": data["task"].strip(),
            "justification": data["justification"],
            "duration_seconds": data["duration_minutes"] * 60,
            "scope": data["scope"],
            "urgency": data["urgency"],
        }


class DecideForm(ScopeMixin, Form):
    """One approver's decision. Approving may grant less: shorter, fewer scopes, a narrower scope object."""

    decision = forms.ChoiceField(choices=[("approve", "Approve"), ("deny", "Deny")])
    duration_minutes = forms.IntegerField(min_value=1, required=False, label="Grant for (minutes)")
    scopes = forms.MultipleChoiceField(widget=forms.CheckboxSelectMultiple, required=False, label="Grant")
    comment = forms.CharField(
        max_length=MAX_JUSTIFICATION,
        required=False,
        label="Comment",
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Told to the requester with your decision.",
    )

    def __init__(self, *args, elevation_request, **kwargs):
        self.asked = elevation_request
        prefix = kwargs.pop("prefix", None) or f"r-{elevation_request.uuid.hex[:12]}"
        super().__init__(*args, prefix=prefix, **kwargs)
        asked_minutes = max(-(-elevation_request.duration_seconds // 60), 1)  # rounded up: the default grants all
        self.fields["duration_minutes"].initial = asked_minutes
        self.fields["duration_minutes"].validators.append(MaxValueValidator(asked_minutes))
        self.fields["duration_minutes"].widget.attrs.update({"max": asked_minutes, "min": 1})
        self.fields["duration_minutes"].help_text = f"Asked: {minutes(elevation_request.duration_seconds)}."
        self.fields["scopes"].choices = [(name, name) for name in elevation_request.scopes]
        self.fields["scopes"].initial = list(elevation_request.scopes)
        self.add_scope_fields()
        self.fields["scope_json"].label = "Narrow the scope (JSON)"
        self.fields["scope_json"].help_text = "Empty: the scope as asked. A narrower object only, never wider."

    def clean(self):
        data = super().clean()
        data["scope"] = self.clean_scope(data)
        return data

    def terms(self) -> dict:
        """The approval's terms for request_approve: None where the approver grants what was asked."""
        data, asked = self.cleaned_data, self.asked
        duration = data.get("duration_minutes")
        seconds = None if duration is None or duration * 60 >= asked.duration_seconds else duration * 60
        chosen = sorted(data.get("scopes") or [])
        scopes = None if not chosen or chosen == sorted(asked.scopes) else chosen
        scope = data.get("scope") or None
        return {"duration_seconds": seconds, "scopes": scopes, "scope": scope}


class WithdrawForm(Form):
    reason = forms.CharField(
        max_length=MAX_JUSTIFICATION,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Optional: why it is no longer needed.",
    )
