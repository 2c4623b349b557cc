"""Forms of the runtime configuration pages; the services check what forms cannot (keys, overlaps, roles)."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model

from agentiam.permissions import Role
from identities.models import Environment, Identity, IdentityStatus, RiskTier
from identities.runtime.models.config import MAX_PROOF_LIFETIME, MIN_PROOF_LIFETIME, AssertionAlgorithm, IdentityField
from identities.runtime.proofs import DEFAULT_MAX_LIFETIME

JSON_WIDGET = forms.Textarea(attrs={"rows": 6, "class": "mono", "spellcheck": "false"})
LINES_WIDGET = forms.Textarea(attrs={"rows": 3, "class": "mono", "spellcheck": "false"})


def lines(text: str) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


class IdentityChoice(forms.ModelChoiceField):
    def label_from_instance(self, obj: Identity) -> str:
        return f"{obj.name} ({obj.get_kind_display().lower()}, {obj.environment})"


def identity_field(label: str, help_text: str = "") -> IdentityChoice:
    queryset = Identity.objects.filter(status=IdentityStatus.ACTIVE).order_by("name", "pk")
    return IdentityChoice(queryset=queryset, label=label, help_text=help_text, to_field_name="uuid")


class OwnerChoice(forms.ModelChoiceField):
    def label_from_instance(self, obj) -> str:
        return obj.get_full_name() or obj.get_username()


class GatewayForm(forms.Form):
    name = forms.CharField(max_length=200, help_text="Also the name of the gateway's service-account identity.")
    audiences = forms.CharField(
        widget=LINES_WIDGET,
        help_text="One per line: the audiences tokens are issued for, e.g. https://tools.example.com/mcp.",
    )
    environment = forms.ChoiceField(choices=Environment.choices, initial=Environment.PROD)
    accountable_owner = OwnerChoice(
        queryset=get_user_model()
        .objects.filter(is_active=True, groups__name=Role.IDENTITY_OWNER)
        .order_by("last_name"),
        required=False,
        help_text="Who answers for this gateway. Empty: it starts orphaned and is flagged.",
    )
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def clean_audiences(self) -> list[str]:
        return lines(self.cleaned_data["audiences"])


class ProofLifetimeField(forms.IntegerField):
    """The longest lifetime accepted for a proof of this trust configuration; empty means the default."""

    def __init__(self):
        super().__init__(
            required=False, min_value=MIN_PROOF_LIFETIME, max_value=MAX_PROOF_LIFETIME, initial=DEFAULT_MAX_LIFETIME,
            label="Longest proof lifetime (seconds)", help_text="Longer-lived proofs are refused (SPIRE issues 300).",
        )  # fmt: skip

    def clean(self, value):
        seconds = super().clean(value)
        return DEFAULT_MAX_LIFETIME if seconds is None else seconds


class TrustBundleForm(forms.Form):
    trust_domain = forms.CharField(max_length=255, help_text="e.g. prod.example.com (no spiffe://, no path).")
    audience = forms.CharField(
        max_length=500, help_text="The `aud` this domain's JWT-SVIDs must name (by default: our token endpoint)."
    )
    bundle = forms.JSONField(
        required=False, widget=JSON_WIDGET, label="Bundle (JSON)", help_text='The SPIFFE bundle: {"keys": [...]}.'
    )
    bundle_url = forms.URLField(
        required=False, assume_scheme="https", label="Or bundle URL", help_text="https only; fetched with limits."
    )
    max_proof_lifetime = ProofLifetimeField()
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["audience"].initial = settings.RUNTIME_TOKEN_ENDPOINT


class OidcIssuerForm(forms.Form):
    issuer = forms.CharField(max_length=500, help_text="Exactly the `iss` of its ID tokens.")
    audience = forms.CharField(max_length=500, help_text="AgentIAM's client id at this issuer.")
    jwks = forms.JSONField(required=False, widget=JSON_WIDGET, label="Keys (JSON)", help_text='{"keys": [...]}.')
    jwks_url = forms.URLField(
        required=False, assume_scheme="https", label="Or JWKS URL", help_text="https only; fetched with limits."
    )
    max_proof_lifetime = ProofLifetimeField()
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))


class AssertionKeyForm(forms.Form):
    identity = identity_field("Identity", "Whose client assertions this key verifies (client id: its UUID).")
    algorithm = forms.ChoiceField(choices=AssertionAlgorithm.choices)
    jwk = forms.JSONField(widget=JSON_WIDGET, label="Public key (JWK)", help_text="Public members only.")
    kid = forms.CharField(required=False, max_length=200, label="Key id", help_text="Empty: the JWK's own kid.")
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))


class ProvenanceRuleForm(forms.Form):
    issuer = forms.CharField(max_length=500, help_text='"spiffe://<trust domain>" or an OIDC issuer URL.')
    claim = forms.CharField(max_length=100, help_text="e.g. image_digest")
    allowed_values = forms.CharField(required=False, widget=LINES_WIDGET, help_text="One per line; empty: any.")
    identity_field = forms.ChoiceField(
        choices=IdentityField.choices, required=False, label="Must also match the identity's"
    )
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def clean_allowed_values(self) -> list[str]:
        return lines(self.cleaned_data["allowed_values"])


class DelegationRuleForm(forms.Form):
    actor = identity_field("Actor", "The agent that acts…")
    subject = identity_field("On behalf of", "…for this identity (a person's identity or an upstream agent).")
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))


class DisableForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), help_text="Recorded in the audit trail.")


class PerCallModeForm(forms.Form):
    identity = identity_field("Identity", "Re-authorise each write, admin or execute call of this identity…")
    risk_tier = forms.ChoiceField(
        choices=[("", "—"), *RiskTier.choices], required=False, help_text="…or of every identity of this risk tier."
    )
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["identity"].required = False
