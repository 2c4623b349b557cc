"""Forms of the registry pages: they shape and check input; the services decide and write.

Field names follow the services' keyword arguments, so a service's ValidationError({field: [...]}) lands
beside the field that caused it (`SERVICE_FIELD_ALIASES` maps the few that differ)."""

from __future__ import annotations

import json
import re

from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator

from identities.filters import owner_candidates
from identities.models import (
    Action,
    CredentialKind,
    DataClass,
    Environment,
    Exposure,
    Hosting,
    IdentifierKind,
    IdentityKind,
    OwnershipRole,
    RiskTier,
    StorageKind,
    SystemKind,
)
from identities.models.registry import Identity
from identities.risk import CAPABILITIES
from identities.scope import MAX_ATTRIBUTES
from identities.widgets import PersonPicker

User = get_user_model()

DATETIME_WIDGET = forms.DateTimeInput(attrs={"type": "datetime-local", "step": "60"}, format="%Y-%m-%dT%H:%M")
REASON_WIDGET = forms.Textarea(attrs={"rows": 2})
SCOPE_ROWS = 4
PARENT_SELECT_LIMIT = 300

ERR_PERSON_ONLY_HUMAN = "Only a human identity links to a person."
ERR_DIGEST = "Write each digest as algorithm:hex, e.g. sha256:3f1c… (one per line)."
ERR_COMMIT = "A commit is 7 to 64 hexadecimal characters."
ERR_SCOPE_BOTH = "Give the scope as rows or as JSON, not both."
ERR_SCOPE_JSON = "This is not valid JSON: {error}."
ERR_SCOPE_ROW = "Each row needs both an attribute and a pattern."
ERR_SCOPE_DUPLICATE = "The attribute {name!r} appears twice."
ERR_NOT_FINGERPRINT = "Paste the fingerprint (a hex digest), never the secret itself."
ERR_CHOOSE_IDENTITIES = "Choose at least one identity."
ERR_NOT_TRANSFERABLE = "You may not transfer the identity %(value)s."
OWNER_READ_ONLY_HELP = "Owners grant standing read; write, admin and execute need an administrator."
ERR_PARENT_UNKNOWN = "No agent you may see has this id."

# A service names some inputs differently from the form that collects them.
SCOPE_ALIASES = {"scope": "scope_json"}


def lines(value: str) -> list[str]:
    return [line.strip() for line in (value or "").splitlines() if line.strip()]


def person_label(person) -> str:
    name = person.get_full_name()
    return f"{name} ({person.username})" if name else person.username


class Form(forms.Form):
    """Labels sit above their fields, so they carry no trailing colon."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


class PersonField(forms.ModelChoiceField):
    """A person chosen by username, shown by name; typed with suggestions, never a list of everyone."""

    widget = PersonPicker

    def __init__(self, queryset, **kwargs):
        kwargs.pop("empty_label", None)
        super().__init__(queryset=queryset, to_field_name="username", **kwargs)

    def prepare_value(self, value):
        if hasattr(value, "username"):
            return value.username
        return super().prepare_value(value)

    def label_from_instance(self, obj):
        return person_label(obj)


# --- identities --------------------------------------------------------------------------------------------


class IdentityForm(Form):
    kind = forms.ChoiceField(choices=IdentityKind.choices, widget=forms.RadioSelect, initial=IdentityKind.AGENT)
    name = forms.CharField(max_length=200, help_text="A name people recognise, e.g. “release-notes-agent”.")
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))
    environment = forms.ChoiceField(choices=Environment.choices)
    exposure = forms.ChoiceField(choices=Exposure.choices, initial=Exposure.INTERNAL, widget=forms.RadioSelect)
    hosting = forms.ChoiceField(choices=Hosting.choices, initial=Hosting.OTHER, label="Hosted on")
    cloud_account = forms.CharField(
        max_length=200, required=False, label="Cloud account", help_text="Account, subscription or project id."
    )
    region = forms.CharField(max_length=64, required=False, help_text="e.g. eu-west-1, or a data centre.")
    capabilities = forms.MultipleChoiceField(
        choices=list(CAPABILITIES.items()),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="What it can do. Capabilities drive the risk tier.",
    )
    model_provider = forms.CharField(max_length=64, required=False, label="Model provider", help_text="Agents only.")
    model_name = forms.CharField(max_length=128, required=False, label="Model")
    parent = forms.ModelChoiceField(
        queryset=Identity.objects.none(),
        to_field_name="uuid",
        required=False,
        label="Parent agent",
        empty_label="None: a top-level agent",
        help_text="For a sub-agent: the agent that delegates to it. Delegation depth follows.",
        error_messages={"invalid_choice": ERR_PARENT_UNKNOWN},
    )
    allowed_image_digests = forms.CharField(
        required=False,
        label="Allowed image digests",
        widget=forms.Textarea(attrs={"rows": 2, "class": "mono"}),
        help_text="One per line (sha256:…). Workloads running other images fail provenance checks.",
    )
    source_repository = forms.CharField(
        max_length=300, required=False, label="Source repository", help_text="e.g. github.com/acme/triage-bot"
    )
    source_commit = forms.CharField(
        max_length=64,
        required=False,
        label="Source commit",
        validators=[RegexValidator(r"^[0-9a-fA-F]{7,64}$", ERR_COMMIT)],
    )
    attestation_signer = forms.CharField(
        max_length=300, required=False, label="Attestation signer", help_text="Who signs its build provenance."
    )
    person = PersonField(
        queryset=User.objects.filter(is_active=True).order_by("first_name", "last_name", "username"),
        required=False,
        label="Person",
        empty_label="None",
        help_text="Human identities only: the person it belongs to.",
    )
    accountable_owner = PersonField(
        queryset=owner_candidates(),
        required=False,
        label="Accountable owner",
        empty_label="Nobody yet (orphaned)",
        help_text="Leave empty to register it orphaned (it will be flagged until someone is named).",
    )

    def __init__(self, *args, actor, editing: Identity | None = None, admin: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.editing = editing
        parents = Identity.objects.restrict(actor, "view").filter(kind=IdentityKind.AGENT).order_by("name")
        if editing is not None:
            parents = parents.exclude(pk=editing.pk)
            del self.fields["kind"]  # a kind never changes: register another identity instead
        self.fields["parent"].queryset = parents
        if parents[PARENT_SELECT_LIMIT : PARENT_SELECT_LIMIT + 1].exists():
            # Too many to list: type (paste) the parent's id instead.
            self.fields["parent"].widget = forms.TextInput(attrs={"placeholder": "the parent agent's id (UUID)"})
        if editing is not None or not admin:
            del self.fields["accountable_owner"]  # owners register for themselves; transfers are separate

    def clean_allowed_image_digests(self) -> list[str]:
        digests = lines(self.cleaned_data["allowed_image_digests"])
        pattern = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[0-9a-f]{32,}$")
        for digest in digests:
            if len(digest) > 100 or not pattern.match(digest):
                raise ValidationError(ERR_DIGEST)
        return digests

    def clean(self):
        data = super().clean()
        kind = self.editing.kind if self.editing is not None else data.get("kind")
        if data.get("person") is not None and kind != IdentityKind.HUMAN:
            self.add_error("person", ERR_PERSON_ONLY_HUMAN)
        return data

    def service_fields(self) -> dict:
        data = dict(self.cleaned_data)
        data.pop("accountable_owner", None)
        return data


class AcceptableUseForm(Form):
    purpose = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), help_text="What this identity is for.")
    allowed_tools = forms.CharField(
        required=False,
        label="Allowed tools",
        widget=forms.Textarea(attrs={"rows": 3, "class": "mono"}),
        help_text="Tool keys or patterns, one per line (e.g. github.read_*, jira.**).",
    )
    data_classes = forms.MultipleChoiceField(
        choices=DataClass.choices, required=False, widget=forms.CheckboxSelectMultiple, label="Data it may handle"
    )
    prohibited_actions = forms.CharField(
        required=False, label="Prohibited actions", widget=forms.Textarea(attrs={"rows": 2})
    )
    human_in_the_loop = forms.CharField(
        required=False,
        label="Human in the loop",
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Which actions need a person's approval first.",
    )
    valid_from = forms.DateTimeField(
        required=False, widget=DATETIME_WIDGET, label="Valid from (UTC)", help_text="Empty: from now."
    )
    valid_until = forms.DateTimeField(
        required=False, widget=DATETIME_WIDGET, label="Valid until (UTC)", help_text="Empty: until replaced."
    )

    def clean_allowed_tools(self) -> list[str]:
        tools = lines(self.cleaned_data["allowed_tools"])
        if any(len(tool) > 200 for tool in tools):
            raise ValidationError("Each tool pattern is at most 200 characters.")
        return tools


class OwnershipForm(Form):
    person = PersonField(queryset=owner_candidates(), label="Person")
    role = forms.ChoiceField(choices=OwnershipRole.choices, widget=forms.RadioSelect, initial=OwnershipRole.ACCOUNTABLE)


class ReasonForm(Form):
    reason = forms.CharField(max_length=1000, widget=REASON_WIDGET)


class BulkTransferForm(Form):
    identity = forms.ModelMultipleChoiceField(
        queryset=Identity.objects.none(),
        to_field_name="uuid",
        label="Identities",
        error_messages={
            "required": "Choose at least one identity.",
            "invalid_choice": "You may not transfer %(value)s.",
        },
    )
    to_person = PersonField(queryset=owner_candidates(), label="New accountable owner")
    reason = forms.CharField(max_length=1000, widget=REASON_WIDGET)

    def __init__(self, *args, changeable, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["identity"].queryset = changeable


class IdentifierForm(Form):
    kind = forms.ChoiceField(choices=IdentifierKind.choices)
    value = forms.CharField(
        max_length=2048,
        help_text="SPIFFE ID (spiffe://trust-domain/path), issuer|subject for OIDC, or the name seen in telemetry.",
    )


# --- entitlements -----------------------------------------------------------------------------------------


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
                parsed = json.loads(raw)
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


# --- credentials --------------------------------------------------------------------------------------------


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


# --- systems and tools -----------------------------------------------------------------------------------------


class SystemForm(Form):
    name = forms.CharField(max_length=200)
    kind = forms.ChoiceField(choices=SystemKind.choices)
    vendor = forms.CharField(max_length=200, required=False)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))


class ToolForm(Form):
    key = forms.RegexField(
        regex=r"^[a-z0-9][a-z0-9_.:-]{0,199}$",
        max_length=200,
        help_text="Unique, lowercase, e.g. github.create_pull_request. Policies refer to it; it never changes.",
        error_messages={"invalid": "Lowercase letters, digits and _ . : - only."},
    )
    name = forms.CharField(max_length=200)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    actions = forms.MultipleChoiceField(
        choices=Action.choices, widget=forms.CheckboxSelectMultiple, help_text="The actions it supports."
    )
    sensitivity = forms.ChoiceField(choices=RiskTier.choices)
    data_class = forms.ChoiceField(choices=DataClass.choices, label="Data class", initial=DataClass.INTERNAL)
    production = forms.BooleanField(required=False, help_text="It acts on production.")
    production_secrets = forms.BooleanField(
        required=False, label="Production secrets", help_text="It reads or changes production credentials."
    )
    third_party = forms.BooleanField(required=False, label="Third party", help_text="Run by another company.")

    def __init__(self, *args, editing: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if editing:
            del self.fields["key"]
