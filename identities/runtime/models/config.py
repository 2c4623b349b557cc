"""Runtime trust configuration, managed by administrators: gateways, SPIFFE trust bundles, OIDC issuers,
assertion keys, provenance rules and delegation rules.

Rows are never deleted: they are disabled (disabled_at), so a past decision or token can always say which
configuration it relied on.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from identities.models import Identity
from identities.runtime.proofs import DEFAULT_MAX_LIFETIME

__all__ = [
    "ERR_PROOF_LIFETIME",
    "AssertionAlgorithm",
    "AssertionKey",
    "ConfigQuerySet",
    "ConfigRow",
    "DelegationRule",
    "Gateway",
    "IdentityField",
    "OidcIssuer",
    "ProvenanceRule",
    "TrustBundle",
    "proof_lifetime_field",
]


class ConfigQuerySet(models.QuerySet):
    def enabled(self):
        return self.filter(disabled_at__isnull=True)


class ConfigRow(models.Model):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    description = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    disable_reason = models.TextField(blank=True)

    objects = ConfigQuerySet.as_manager()

    class Meta:
        abstract = True

    @property
    def enabled(self) -> bool:
        return self.disabled_at is None


class Gateway(ConfigRow):
    """An enforcement point: a service-account identity, the audiences it serves, its credential's keyed hash.

    The credential (`aiamgw_<prefix>_<secret>`) is shown once; `prefix` finds the row and `digest` is an
    HMAC of the whole credential (identities.api_tokens), so the database never holds it."""

    name = models.CharField(max_length=200, unique=True)
    identity = models.OneToOneField(Identity, on_delete=models.PROTECT, related_name="gateway")
    # Each audience belongs to one gateway at most (runtime.services.config keeps that under a lock).
    audiences = ArrayField(models.CharField(max_length=300), default=list)
    prefix = models.CharField(max_length=12, unique=True)
    digest = models.CharField(max_length=64)
    credential_issued_at = models.DateTimeField()

    class Meta:
        indexes = [GinIndex(fields=["audiences"], name="runtime_gateway_aud_gin")]

    def __str__(self) -> str:
        return self.name


MIN_PROOF_LIFETIME, MAX_PROOF_LIFETIME = 60, 86400
ERR_PROOF_LIFETIME = f"Give the longest proof lifetime accepted, {MIN_PROOF_LIFETIME} to {MAX_PROOF_LIFETIME} seconds."


def proof_lifetime_field() -> models.PositiveIntegerField:
    return models.PositiveIntegerField(
        default=DEFAULT_MAX_LIFETIME,
        validators=[MinValueValidator(MIN_PROOF_LIFETIME), MaxValueValidator(MAX_PROOF_LIFETIME)],
        help_text="Seconds: a proof whose lifetime (exp - iat, or exp - now) is longer is refused.",
    )


class TrustBundle(ConfigRow):
    """A SPIFFE trust domain whose JWT-SVIDs are accepted: its bundle (JWK set, keys with `use: jwt-svid`)
    inline or at a URL fetched under RUNTIME_JWKS_* rules, and the audience the SVIDs must name."""

    trust_domain = models.CharField(max_length=255, unique=True)
    audience = models.CharField(max_length=500)
    bundle = models.JSONField(null=True, blank=True)
    bundle_url = models.URLField(max_length=500, blank=True)
    max_proof_lifetime = proof_lifetime_field()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(Q(bundle__isnull=False) & Q(bundle_url="")) | (Q(bundle__isnull=True) & ~Q(bundle_url="")),
                name="runtime_bundle_inline_or_url",
            )
        ]

    def __str__(self) -> str:
        return self.trust_domain


class OidcIssuer(ConfigRow):
    """An OpenID Connect issuer whose ID tokens are accepted; `audience` is AgentIAM's client id there."""

    issuer = models.CharField(max_length=500, unique=True)
    audience = models.CharField(max_length=500)
    jwks = models.JSONField(null=True, blank=True)
    jwks_url = models.URLField(max_length=500, blank=True)
    max_proof_lifetime = proof_lifetime_field()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(Q(jwks__isnull=False) & Q(jwks_url="")) | (Q(jwks__isnull=True) & ~Q(jwks_url="")),
                name="runtime_issuer_inline_or_url",
            )
        ]

    def __str__(self) -> str:
        return self.issuer


class AssertionAlgorithm(models.TextChoices):
    EDDSA = "EdDSA", "EdDSA (Ed25519)"
    ES256 = "ES256", "ES256 (P-256)"
    ES384 = "ES384", "ES384 (P-384)"


class AssertionKey(ConfigRow):
    """A public key registered on an identity, for its RFC 7523 client assertions (`iss` = `sub` = the
    identity's id)."""

    identity = models.ForeignKey(Identity, on_delete=models.PROTECT, related_name="assertion_keys")
    kid = models.CharField(max_length=200)
    algorithm = models.CharField(max_length=10, choices=AssertionAlgorithm.choices)
    jwk = models.JSONField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["identity", "kid"], condition=Q(disabled_at__isnull=True), name="runtime_assertion_key_kid"
            )
        ]

    def __str__(self) -> str:
        return f"{self.kid} ({self.algorithm})"


class IdentityField(models.TextChoices):
    """Registry values a provenance rule may compare a claim with."""

    NONE = "", "No per-identity check"
    IMAGE_DIGESTS = "allowed_image_digests", "Allowed image digests"
    SOURCE_REPOSITORY = "source_repository", "Source repository"
    SOURCE_COMMIT = "source_commit", "Source commit"
    ATTESTATION_SIGNER = "attestation_signer", "Attestation signer"


class ProvenanceRule(ConfigRow):
    """A claim proofs from `issuer` must carry: among `allowed_values` (when any) and, when
    `identity_field` is set, among that identity's own registered values."""

    issuer = models.CharField(max_length=500, help_text='"spiffe://<trust domain>" or an OIDC issuer URL')
    claim = models.CharField(max_length=100)
    allowed_values = ArrayField(models.CharField(max_length=300), default=list, blank=True)
    identity_field = models.CharField(max_length=30, choices=IdentityField.choices, blank=True)

    def __str__(self) -> str:
        return f"{self.issuer}: {self.claim}"


class DelegationRule(ConfigRow):
    """`actor` may act for `subject` (RFC 8693 delegation): without an enabled rule, an exchange with an
    actor_token is refused."""

    actor = models.ForeignKey(Identity, on_delete=models.PROTECT, related_name="+")
    subject = models.ForeignKey(Identity, on_delete=models.PROTECT, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["actor", "subject"], condition=Q(disabled_at__isnull=True), name="runtime_delegation_once"
            ),
            models.CheckConstraint(condition=~Q(actor=models.F("subject")), name="runtime_delegation_not_self"),
        ]

    def __str__(self) -> str:
        return f"{self.actor_id} for {self.subject_id}"
