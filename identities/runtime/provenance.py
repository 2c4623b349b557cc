"""Provenance rules: where a verified workload came from (image digest, repository, cluster …).

Evaluated after a proof verifies and its subject maps to an identity, because some rules compare a claim
with values registered on that identity.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass

from identities.runtime.proofs import ProofError, VerifiedProof


@dataclass(frozen=True)
class ProvenanceRule:
    """A claim that proofs from `issuer` must carry, with the values it may take.

    `allowed_values` empty means any value from the issuer is fine; `per_identity` also requires the value
    to be among the identity's own values for that claim (e.g. its allowed image digests).
    """

    issuer: str
    claim: str
    allowed_values: frozenset[str] = frozenset()
    per_identity: bool = False


def check_provenance(
    proof: VerifiedProof,
    rules: Collection[ProvenanceRule],
    identity_values: Mapping[str, Collection[str]] | Callable[[str], Collection[str]] | None = None,
) -> None:
    """Raise ProofError(provenance_failed) unless every rule for the proof's issuer holds."""
    for rule in rules:
        if rule.issuer != proof.issuer:
            continue
        if rule.claim not in proof.claims:
            raise ProofError(
                "provenance_failed", f"the proof has no `{rule.claim}` claim, which {rule.issuer} requires"
            )
        value = proof.claims[rule.claim]
        if not isinstance(value, str):
            raise ProofError("provenance_failed", f"`{rule.claim}` must be a single text value")
        if rule.allowed_values and value not in rule.allowed_values:
            raise ProofError(
                "provenance_failed", f"`{rule.claim}` = {value!r} is not among the values allowed for {rule.issuer}"
            )
        if rule.per_identity:
            if callable(identity_values):
                own = identity_values(rule.claim)
            else:
                own = (identity_values or {}).get(rule.claim, ())
            if value not in own:
                raise ProofError(
                    "provenance_failed",
                    f"`{rule.claim}` = {value!r} is not among this identity's allowed values "
                    f"({len(own)} registered); an owner must add it to the identity",
                )
