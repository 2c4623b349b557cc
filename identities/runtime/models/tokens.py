"""What the token service issued and revoked (append-only; never the tokens themselves), and the ledger of
client-assertion ids already used."""

from __future__ import annotations

import pgtrigger
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.db import models

from identities.models import Identity, Task

__all__ = [
    "APPEND_ONLY",
    "IssuedToken",
    "JtiLedgerEntry",
    "TokenRevocation",
]

APPEND_ONLY = pgtrigger.Update | pgtrigger.Delete


class JtiLedgerEntry(models.Model):
    """A client assertion's `jti`, claimed when it was used (RFC 7523 single use); forgotten after expiry."""

    client_id = models.CharField(max_length=200)
    jti = models.CharField(max_length=255)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["client_id", "jti"], name="runtime_jti_once")]

    def __str__(self) -> str:
        return f"{self.client_id}/{self.jti}"


class IssuedToken(models.Model):
    """One access token the token service signed: its claims that matter later, never the token."""

    append_only = True

    jti = models.CharField(max_length=64, unique=True)
    kid = models.CharField(max_length=64)
    identity = models.ForeignKey(Identity, on_delete=models.PROTECT, related_name="+")  # the token's `sub`
    subject = models.CharField(max_length=2048)  # the proof's subject (a SPIFFE ID, issuer|sub, a client id)
    proof_kind = models.CharField(max_length=20)
    actor = models.ForeignKey(Identity, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    act_chain = ArrayField(models.CharField(max_length=2048), default=list, blank=True)  # current actor first
    scopes = ArrayField(models.CharField(max_length=220), default=list)
    task = models.ForeignKey(Task, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    # What the token relied on, for the subject and the actor: ending any of them revokes the token
    # (identities.runtime.services.ending). Plain ids, not foreign keys: the rows are history.
    entitlements = ArrayField(models.BigIntegerField(), default=list, blank=True)
    grants = ArrayField(models.BigIntegerField(), default=list, blank=True)
    audience = models.CharField(max_length=300)
    issued_at = models.DateTimeField()
    expires_at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["kid", "expires_at"], name="runtime_token_kid_exp_idx"),
            GinIndex(fields=["entitlements"], name="runtime_token_entitlements_gin"),
            GinIndex(fields=["grants"], name="runtime_token_grants_gin"),
        ]
        triggers = [pgtrigger.Protect(name="runtime_issued_token_append_only", operation=APPEND_ONLY)]

    def __str__(self) -> str:
        return self.jti


class TokenRevocation(models.Model):
    """A token ended before its expiry (task completed, signing key compromised, …). One row per token."""

    append_only = True

    jti = models.CharField(max_length=64, unique=True)
    reason = models.CharField(max_length=300)
    actor_label = models.CharField(max_length=200, blank=True)
    revoked_at = models.DateTimeField()

    class Meta:
        triggers = [pgtrigger.Protect(name="runtime_token_revocation_append_only", operation=APPEND_ONLY)]

    def __str__(self) -> str:
        return f"{self.jti} revoked: {self.reason}"
