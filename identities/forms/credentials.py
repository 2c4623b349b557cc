"""Forms of credentials: record one (its fingerprint, never the secret) and resolve a finding."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError

from identities.models import (
    CredentialKind,
    StorageKind,
)

from .base import DATETIME_WIDGET, ERR_NOT_FINGERPRINT, REASON_WIDGET, Form


class CredentialForm(Form):
    name = forms.CharField(max_length=200, help_text="What people call it, e.g. “GitHub app key (prod)”.")
    kind = forms.ChoiceField(choices=CredentialKind.choices)
    fingerprint = forms.CharField(
        max_length=128,
        widget=forms.TextInput(attrs={"class": "mono", "autocomplete": "off", "spellcheck": "false"}),
        help_text="The SHA-256 fingerprint (hex) of the secret or key — never the secret itself.",
    )
    is_static = forms.BooleanField(
        required=False, initial=True, label="Static secret", help_text="Unchecked: short-lived, issued per use."
    )
    ttl_seconds = forms.IntegerField(
        required=False, min_value=1, max_value=10 * 365 * 86400, label="TTL (seconds)", help_text="Short-lived only."
    )
    storage_kind = forms.ChoiceField(choices=StorageKind.choices, initial=StorageKind.VAULT, label="Kept in")
    storage_location = forms.CharField(
        max_length=500, required=False, label="Location", help_text="Vault path, secret name or variable name."
    )
    issued_at = forms.DateTimeField(widget=DATETIME_WIDGET, label="Issued at (UTC)")
    last_rotated_at = forms.DateTimeField(required=False, widget=DATETIME_WIDGET, label="Last rotated (UTC)")
    expires_at = forms.DateTimeField(required=False, widget=DATETIME_WIDGET, label="Expires at (UTC)")
    entitlements = forms.ModelMultipleChoiceField(
        queryset=None,
        to_field_name="uuid",
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Entitlements it carries",
        help_text="Revoking the last of these requests the credential's revocation.",
    )

    def __init__(self, *args, entitlements, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["entitlements"].queryset = entitlements
        self.fields["entitlements"].label_from_instance = lambda e: f"{e.tool.key} · {e.action} ({e.mode})"

    def clean_fingerprint(self) -> str:
        value = self.cleaned_data["fingerprint"].strip().lower().replace(":", "")
        if value.startswith("sha256"):
            value = value.removeprefix("sha256").lstrip("=:")
        if any(c not in "0123456789abcdef" for c in value):
            raise ValidationError(ERR_NOT_FINGERPRINT)
        return value

    def clean(self):
        data = super().clean()
        issued, expires = data.get("issued_at"), data.get("expires_at")
        if issued and expires and expires <= issued:
            self.add_error("expires_at", "A credential expires after it is issued.")
        return data

    def service_kwargs(self) -> dict:
        data = dict(self.cleaned_data)
        data["entitlements"] = list(data.get("entitlements") or [])
        return data


class CredentialResolveForm(Form):
    outcome = forms.ChoiceField(
        choices=[("confirmed", "Revoked — the system holding it confirmed"), ("failed", "Revocation failed")],
        widget=forms.RadioSelect,
    )
    note = forms.CharField(max_length=1000, required=False, widget=REASON_WIDGET, help_text="What the system said.")
