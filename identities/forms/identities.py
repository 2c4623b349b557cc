"""Forms of the identity pages: create and edit an identity, acceptable use, ownership and its bulk transfer,
identifiers, and the reason a lifecycle change asks for."""

from __future__ import annotations

import re

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator

from identities.filters import owner_candidates
from identities.models import (
    DataClass,
    Environment,
    Exposure,
    Hosting,
    IdentifierKind,
    IdentityKind,
    OwnershipRole,
)
from identities.models.registry import Identity
from identities.risk import CAPABILITIES

from .base import (
    DATETIME_WIDGET,
    ERR_COMMIT,
    ERR_DIGEST,
    ERR_PARENT_UNKNOWN,
    ERR_PERSON_ONLY_HUMAN,
    PARENT_SELECT_LIMIT,
    REASON_WIDGET,
    Form,
    PersonField,
    User,
    lines,
)


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
