"""Forms of entitlements: grant (scope as rows or JSON), replace, risk exceptions and the risk-tier override."""

from __future__ import annotations

import json

from django import forms

from agentiam import jsonsafe
from identities.models import (
    Action,
    RiskTier,
)
from identities.scope import MAX_ATTRIBUTES

from .base import (
    DATETIME_WIDGET,
    ERR_SCOPE_BOTH,
    ERR_SCOPE_DUPLICATE,
    ERR_SCOPE_JSON,
    ERR_SCOPE_ROW,
    REASON_WIDGET,
    SCOPE_ROWS,
    Form,
)


class ScopeMixin:
    """A scope as attribute/pattern rows or as a JSON object; cleaned into `scope` (a dict, maybe empty)."""

    def add_scope_fields(self, initial_scope: dict | None = None) -> None:
        for i in range(SCOPE_ROWS):
            self.fields[f"scope_attr_{i}"] = forms.CharField(max_length=64, required=False, label="Attribute")
            self.fields[f"scope_pattern_{i}"] = forms.CharField(max_length=512, required=False, label="Pattern")
        self.fields["scope_json"] = forms.CharField(
            required=False,
            label="Scope as JSON",
            widget=forms.Textarea(attrs={"rows": 2, "class": "mono", "placeholder": '{"repo": "acme/*"}'}),
            help_text=f"An object of attribute → glob pattern (at most {MAX_ATTRIBUTES}). Empty: the whole tool.",
        )
        if initial_scope:
            if len(initial_scope) <= SCOPE_ROWS:
                for i, (name, pattern) in enumerate(sorted(initial_scope.items())):
                    self.initial[f"scope_attr_{i}"], self.initial[f"scope_pattern_{i}"] = name, pattern
            else:
                self.initial["scope_json"] = json.dumps(initial_scope)

    @property
    def scope_rows(self):
        return [(self[f"scope_attr_{i}"], self[f"scope_pattern_{i}"]) for i in range(SCOPE_ROWS)]

    def clean_scope(self, data: dict) -> dict:
        rows = {}
        for i in range(SCOPE_ROWS):
            name = (data.get(f"scope_attr_{i}") or "").strip()
            pattern = (data.get(f"scope_pattern_{i}") or "").strip()
            if not name and not pattern:
                continue
            if not name or not pattern:
                self.add_error(f"scope_attr_{i}" if not name else f"scope_pattern_{i}", ERR_SCOPE_ROW)
                continue
            if name in rows:
                self.add_error(f"scope_attr_{i}", ERR_SCOPE_DUPLICATE.format(name=name))
            rows[name] = pattern
        raw = (data.get("scope_json") or "").strip()
        if raw and rows:
            self.add_error("scope_json", ERR_SCOPE_BOTH)
            return {}
        if raw:
            try:
                parsed = jsonsafe.loads(raw, what="The scope")
            except ValueError as error:
                self.add_error("scope_json", ERR_SCOPE_JSON.format(error=error.args[0] if error.args else error))
                return {}
            return parsed  # its shape is checked by the service (identities.scope.validate_scope)
        return rows


class ExceptionFieldsMixin:
    def add_exception_fields(self) -> None:
        self.fields["exception_reason"] = forms.CharField(
            required=False,
            label="Why accept this risk",
            widget=REASON_WIDGET,
            help_text="Recorded with your name as the person who accepted it.",
        )
        self.fields["exception_until"] = forms.DateTimeField(
            required=False,
            widget=DATETIME_WIDGET,
            label="Exception until (UTC)",
            help_text="At most 365 days from now; the runtime denies the access after this.",
        )


class EntitlementGrantForm(ScopeMixin, ExceptionFieldsMixin, Form):
    tool = forms.ModelChoiceField(queryset=None, to_field_name="uuid", empty_label="Choose a tool")
    action = forms.ChoiceField(choices=Action.choices, widget=forms.RadioSelect, initial=Action.READ)
    expires_at = forms.DateTimeField(
        required=False, widget=DATETIME_WIDGET, label="Expires at (UTC)", help_text="Empty: until revoked."
    )
    reason = forms.CharField(
        max_length=1000, required=False, widget=REASON_WIDGET, help_text="Why it needs this access."
    )

    def __init__(self, *args, tools, actions, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["tool"].queryset = tools
        self.fields["tool"].label_from_instance = lambda tool: f"{tool.key} — {tool.system.name}"
        self.fields["action"].choices = [choice for choice in Action.choices if choice[0] in actions]
        if list(actions) == [Action.READ]:
            self.fields[
                "action"
            ].help_text = "Owners grant standing read; write, admin and execute need an administrator."
        self.add_scope_fields()
        self.add_exception_fields()

    def clean(self):
        data = super().clean()
        data["scope"] = self.clean_scope(data)
        return data

    def service_kwargs(self) -> dict:
        data = self.cleaned_data
        return {
            "tool": data["tool"],
            "action": data["action"],
            "scope": data["scope"],
            "expires_at": data.get("expires_at"),
            "reason": data.get("reason", ""),
            "exception_reason": data.get("exception_reason") or "",
            "exception_until": data.get("exception_until"),
        }


class EntitlementReplaceForm(ScopeMixin, ExceptionFieldsMixin, Form):
    expires_at = forms.DateTimeField(
        required=False, widget=DATETIME_WIDGET, label="Expires at (UTC)", help_text="Empty: until revoked."
    )
    reason = forms.CharField(max_length=1000, widget=REASON_WIDGET, help_text="Why the scope changes.")

    def __init__(self, *args, scope: dict, **kwargs):
        super().__init__(*args, **kwargs)
        self.add_scope_fields(scope)
        self.add_exception_fields()

    def clean(self):
        data = super().clean()
        data["scope"] = self.clean_scope(data)
        return data


class ExceptionForm(Form):
    reason = forms.CharField(max_length=1000, widget=REASON_WIDGET, label="Why accept this risk")
    valid_until = forms.DateTimeField(widget=DATETIME_WIDGET, label="Until (UTC)", help_text="At most 365 days.")


class TierOverrideForm(Form):
    tier = forms.ChoiceField(choices=RiskTier.choices, widget=forms.RadioSelect, label="Tier")
    reason = forms.CharField(max_length=1000, widget=REASON_WIDGET, help_text="Shown beside the tier to everyone.")
