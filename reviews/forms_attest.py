"""Forms of "My reviews": one item's decision (with the fields reduce and reassign need), several items at
once, accepting every recommendation and signing off. They shape input; reviews.services.attest decides."""

from __future__ import annotations

import json
import time
import uuid

from django import forms
from django.contrib.auth import get_user_model

from agentiam.jsonsafe import loads
from identities.forms.base import Form
from reviews.models_campaigns import ItemDecision
from reviews.services.attest import MAX_BULK, MAX_COMMENT, MAX_TIME_SPENT_MS

# A service's field → the form field that collects it.
ALIASES = {"scope": "scope_json", "items": "items"}
ERR_SCOPE_JSON = 'Write the narrower scope as a JSON object, e.g. {"repo": "acme/web"}.'


def shown_now() -> int:
    """When a form was shown (ms since the epoch): decided minus shown is the time spent on the item."""
    return int(time.time() * 1000)


class SpentMixin:
    def time_spent(self) -> int | None:
        shown = self.cleaned_data.get("shown_at")
        if not shown:
            return None
        return max(0, min(shown_now() - shown, MAX_TIME_SPENT_MS))


class DecideForm(SpentMixin, Form):
    decision = forms.ChoiceField(choices=ItemDecision.choices)
    comment = forms.CharField(
        max_length=MAX_COMMENT, required=False, strip=False, widget=forms.TextInput(attrs={"autocomplete": "off"})
    )
    scope_json = forms.CharField(
        max_length=MAX_COMMENT,
        required=False,
        label="Narrower scope (JSON)",
        widget=forms.TextInput(attrs={"class": "mono"}),
    )
    jit_only = forms.BooleanField(required=False, label="JIT only: end the standing access, let it be asked for")
    reassign_to = forms.ModelChoiceField(
        queryset=get_user_model().objects.none(), required=False, to_field_name="username", label="Hand to"
    )
    note = forms.CharField(max_length=MAX_COMMENT, required=False, strip=False, label="Note for them")
    shown_at = forms.IntegerField(required=False, min_value=0, widget=forms.HiddenInput)

    def __init__(self, *args, candidates=None, **kwargs):
        super().__init__(*args, **kwargs)
        if candidates is not None:
            self.fields["reassign_to"].queryset = get_user_model().objects.filter(pk__in=[c.pk for c in candidates])
        else:  # any person: the service checks the reviewer rule and separation of duties
            self.fields["reassign_to"].queryset = get_user_model().objects.filter(is_active=True)

    def clean_scope_json(self):
        text = (self.cleaned_data.get("scope_json") or "").strip()
        if not text:
            return None
        try:
            value = loads(text)
        except (ValueError, json.JSONDecodeError):
            raise forms.ValidationError(ERR_SCOPE_JSON) from None
        if not isinstance(value, dict):
            raise forms.ValidationError(ERR_SCOPE_JSON)
        return value

    def arguments(self) -> dict:
        data = self.cleaned_data
        return {
            "decision": data["decision"],
            "comment": data.get("comment") or "",
            "scope": data.get("scope_json"),
            "jit_only": bool(data.get("jit_only")),
            "reassign_to": data.get("reassign_to"),
            "note": data.get("note") or "",
            "time_spent_ms": self.time_spent(),
        }


class ItemsField(forms.MultipleChoiceField):
    """Item ids (UUIDs), between 1 and MAX_BULK: whether each is the reviewer's is the service's to say."""

    def valid_value(self, value) -> bool:
        return True

    def clean(self, value):
        values = super().clean(value)
        if len(values) > MAX_BULK:
            raise forms.ValidationError(f"Select at most {MAX_BULK} items.")
        try:
            return [uuid.UUID(str(v)) for v in values]
        except ValueError:
            raise forms.ValidationError("Unknown item.") from None


class BulkForm(SpentMixin, Form):
    items = ItemsField(error_messages={"required": "Select items first."})
    decision = forms.ChoiceField(choices=[(ItemDecision.CERTIFY, "Certify"), (ItemDecision.REVOKE, "Revoke")])
    comment = forms.CharField(max_length=MAX_COMMENT, required=False, strip=False)
    shown_at = forms.IntegerField(required=False, min_value=0, widget=forms.HiddenInput)


class AcceptForm(SpentMixin, Form):
    run = forms.UUIDField(required=False, widget=forms.HiddenInput)
    comment = forms.CharField(max_length=MAX_COMMENT, required=False, strip=False,
                              label="Comment for items that need one (optional)")  # fmt: skip
    shown_at = forms.IntegerField(required=False, min_value=0, widget=forms.HiddenInput)


class SignOffForm(Form):
    note = forms.CharField(max_length=MAX_COMMENT, required=False, strip=False, label="Note (optional)")
