"""Workload proofs: JWT-SVIDs, OIDC ID tokens and client assertions, with real keys and real signatures."""

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from identities.runtime.keys import InvalidKeySet, KeySet
from identities.runtime.proofs import (
    MemoryJtiLedger,
    OidcIssuer,
    ProofError,
    ProofKind,
    RegisteredClient,
    TrustBundle,
    peek_issuer,
    verify_client_assertion,
    verify_jwt_svid,
    verify_oidc_token,
)
from identities.runtime.provenance import ProvenanceRule, check_provenance
from tests.runtime_support import public_jwk

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
T = int(NOW.timestamp())
AUDIENCE = "https://agentiam.example/api/v1/runtime/token"
TOKEN_ENDPOINT = AUDIENCE
SPIFFE_ID = "spiffe://prod.example.com/agent/triage"
ISSUER = "https://login.example.com"

RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())
ED_KEY = ed25519.Ed25519PrivateKey.generate()
ATTACKER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def spiffe_bundle():
    return {
        "keys": [
            public_jwk(RSA_KEY, "svid-rsa", use="jwt-svid"),
            public_jwk(EC_KEY, "svid-ec", use="jwt-svid"),
            # An X.509 CA entry and a JWT-SVID key without a kid: neither may verify a JWT-SVID.
            {**public_jwk(ATTACKER_KEY, "ca"), "use": "x509-svid"},
            {k: v for k, v in public_jwk(ATTACKER_KEY, "x", use="jwt-svid").items() if k != "kid"},
        ]
    }


BUNDLES = {
    "prod.example.com": TrustBundle(
        trust_domain="prod.example.com",
        keys=KeySet.from_document(json.dumps(spiffe_bundle()), use="jwt-svid"),
        audience=AUDIENCE,
    )
}
ISSUERS = {
    ISSUER: OidcIssuer(
        issuer=ISSUER,
        keys=KeySet.from_document({"keys": [public_jwk(RSA_KEY, "oidc-1", use="sig")]}, use="sig"),
        audience="agentiam",
    )
}
CLIENT = RegisteredClient(
    client_id="agent-7",
    keys=KeySet.from_document(
        {"keys": [public_jwk(ED_KEY, "ed-1"), public_jwk(EC_KEY, "ec-1"), public_jwk(RSA_KEY, "rsa-1")]}, use="sig"
    ),
)


def svid(claims=None, *, key=RSA_KEY, alg="RS256", kid="svid-rsa", headers=None, drop=()):
    payload = {"sub": SPIFFE_ID, "aud": AUDIENCE, "exp": T + 300, "iat": T, **(claims or {})}
    for name in drop:
        payload.pop(name)
    return jwt.encode(payload, key, algorithm=alg, headers={"kid": kid, "typ": "JWT", **(headers or {})})


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hand_made(header, payload, sign=lambda signing_input: b""):
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    return f"{signing_input}.{b64(sign(signing_input.encode()))}"


def refused(code, call, *args, **kwargs) -> ProofError:
    with pytest.raises(ProofError) as caught:
        call(*args, **kwargs)
    assert caught.value.code == code, caught.value.reason
    assert caught.value.reason
    return caught.value


def verify(token):
    return verify_jwt_svid(token, bundles=BUNDLES, now=NOW)


# JWT-SVIDs


@pytest.mark.parametrize(
    ("key", "alg", "kid"),
    [(RSA_KEY, "RS256", "svid-rsa"), (RSA_KEY, "PS384", "svid-rsa"), (EC_KEY, "ES256", "svid-ec")],
)
def test_a_jwt_svid_signed_by_a_bundle_key_is_accepted(key, alg, kid):
    proof = verify(svid(key=key, alg=alg, kid=kid, claims={"image_digest": "sha256:aa"}))
    assert proof.kind == ProofKind.JWT_SVID
    assert proof.subject == SPIFFE_ID
    assert proof.issuer == "spiffe://prod.example.com"
    assert proof.key_id == kid
    assert proof.claims["image_digest"] == "sha256:aa"


def test_only_jwt_svid_keys_with_a_kid_are_taken_from_a_spiffe_bundle():
    assert BUNDLES["prod.example.com"].keys.kids() == ["svid-ec", "svid-rsa"]


def test_a_bundle_that_publishes_private_key_material_is_refused():
    leaked = {**public_jwk(EC_KEY, "k", use="jwt-svid"), "d": "c2VjcmV0"}
    with pytest.raises(InvalidKeySet, match="private key material"):
        KeySet.from_document({"keys": [leaked]}, use="jwt-svid")


def test_alg_none_is_refused():
    token = hand_made({"alg": "none", "kid": "svid-rsa"}, {"sub": SPIFFE_ID, "aud": AUDIENCE, "exp": T + 60})
    error = refused("unsupported_alg", verify, token)
    assert "'none'" in error.reason


def test_an_hmac_signature_keyed_with_the_bundles_public_key_is_refused():
    # The classic confusion: the attacker signs HS256 with the public key's PEM as the shared secret.
    pem = RSA_KEY.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    token = hand_made(
        {"alg": "HS256", "kid": "svid-rsa", "typ": "JWT"},
        {"sub": SPIFFE_ID, "aud": AUDIENCE, "exp": T + 60},
        sign=lambda signing_input: hmac.new(pem, signing_input, hashlib.sha256).digest(),
    )
    error = refused("unsupported_alg", verify, token)
    assert "HS256" in error.reason


def test_an_attackers_key_under_our_kid_fails_the_signature_check():
    error = refused("invalid_signature", verify, svid(key=ATTACKER_KEY))
    assert "svid-rsa" in error.reason


@pytest.mark.parametrize("header", ["jku", "jwk", "x5u", "x5c"])
def test_a_token_that_names_its_own_key_is_refused(header):
    value = {
        "jku": "https://attacker.example/jwks.json",
        "jwk": public_jwk(ATTACKER_KEY, "svid-rsa"),
        "x5u": "https://attacker.example/cert.pem",
        "x5c": ["MIIB"],
    }[header]
    token = svid(key=ATTACKER_KEY, headers={header: value})
    error = refused("invalid_token", verify, token)
    assert f"`{header}`" in error.reason


def test_a_jwt_svid_for_another_audience_is_refused():
    error = refused("wrong_audience", verify, svid({"aud": "https://other.example"}))
    assert AUDIENCE in error.reason


def test_a_multi_audience_jwt_svid_is_refused_unless_configured():
    token = svid({"aud": [AUDIENCE, "https://other.example"]})
    refused("wrong_audience", verify, token)
    lenient = {"prod.example.com": TrustBundle("prod.example.com", BUNDLES["prod.example.com"].keys, AUDIENCE, True)}
    assert verify_jwt_svid(token, bundles=lenient, now=NOW).subject == SPIFFE_ID


def test_an_expired_jwt_svid_is_refused_and_the_skew_is_honoured():
    refused("expired", verify, svid({"exp": T - 31}))
    assert verify(svid({"exp": T - 29})).subject == SPIFFE_ID


def test_a_jwt_svid_with_a_future_nbf_is_refused():
    error = refused("not_yet_valid", verify, svid({"nbf": T + 120}))
    assert "`nbf`" in error.reason


def test_a_jwt_svid_without_exp_is_refused():
    error = refused("invalid_token", verify, svid(drop=("exp",)))
    assert "`exp`" in error.reason


def test_a_spiffe_id_from_another_trust_domain_is_refused():
    error = refused("untrusted_domain", verify, svid({"sub": "spiffe://evil.example.com/agent/triage"}))
    assert "evil.example.com" in error.reason


def test_a_spiffe_id_with_a_query_is_refused():
    error = refused("invalid_spiffe_id", verify, svid({"sub": SPIFFE_ID + "?admin=1"}))
    assert "query" in error.reason


def test_a_trust_domain_id_without_a_workload_path_is_refused():
    error = refused("invalid_spiffe_id", verify, svid({"sub": "spiffe://prod.example.com"}))
    assert "path" in error.reason


def test_an_unknown_or_missing_kid_is_refused():
    refused("unknown_kid", verify, svid(kid="rotated-away"))
    token = jwt.encode({"sub": SPIFFE_ID, "aud": AUDIENCE, "exp": T + 60}, RSA_KEY, algorithm="RS256")
    refused("unknown_kid", verify, token)


def test_a_key_cannot_verify_an_algorithm_of_another_key_type():
    error = refused("unsupported_alg", verify, svid(key=EC_KEY, alg="ES256", kid="svid-rsa"))
    assert "RSA" in error.reason


def test_an_access_token_type_is_not_accepted_as_a_jwt_svid():
    refused("invalid_token", verify, svid(headers={"typ": "at+jwt"}))


@pytest.mark.parametrize("token", ["", "abc", "a.b.c", "a.b", "x" * 20000])
def test_garbage_is_refused_as_an_invalid_token(token):
    refused("invalid_token", verify, token)


# OIDC ID tokens


def id_token(claims=None, *, key=RSA_KEY, kid="oidc-1"):
    payload = {"iss": ISSUER, "sub": "user-42", "aud": "agentiam", "exp": T + 300, "iat": T, **(claims or {})}
    return jwt.encode(payload, key, algorithm="RS256", headers={"kid": kid})


def test_an_oidc_id_token_from_a_configured_issuer_is_accepted():
    proof = verify_oidc_token(id_token(), issuers=ISSUERS, now=NOW)
    assert (proof.kind, proof.issuer, proof.subject, proof.key_id) == (ProofKind.OIDC, ISSUER, "user-42", "oidc-1")


def test_an_oidc_id_token_from_an_unconfigured_issuer_is_refused():
    error = refused(
        "wrong_issuer", verify_oidc_token, id_token({"iss": "https://evil.example"}), issuers=ISSUERS, now=NOW
    )
    assert "evil.example" in error.reason


def test_an_oidc_id_token_for_another_client_is_refused():
    refused("wrong_audience", verify_oidc_token, id_token({"aud": "someone-else"}), issuers=ISSUERS, now=NOW)


def test_an_oidc_id_token_without_iat_is_refused():
    token = jwt.encode(
        {"iss": ISSUER, "sub": "u", "aud": "agentiam", "exp": T + 60},
        RSA_KEY,
        algorithm="RS256",
        headers={"kid": "oidc-1"},
    )
    refused("invalid_token", verify_oidc_token, token, issuers=ISSUERS, now=NOW)


# Client assertions (RFC 7523)


def assertion(claims=None, *, key=ED_KEY, alg="EdDSA", kid="ed-1", jti="j-1"):
    payload = {
        "iss": "agent-7",
        "sub": "agent-7",
        "aud": TOKEN_ENDPOINT,
        "exp": T + 60,
        "iat": T,
        "jti": jti,
        **(claims or {}),
    }
    return jwt.encode(payload, key, algorithm=alg, headers={"kid": kid})


def check(token, ledger=None):
    return verify_client_assertion(
        token,
        client=CLIENT,
        token_endpoint=TOKEN_ENDPOINT,
        ledger=ledger if ledger is not None else MemoryJtiLedger(),
        now=NOW,
    )


@pytest.mark.parametrize(("key", "alg", "kid"), [(ED_KEY, "EdDSA", "ed-1"), (EC_KEY, "ES256", "ec-1")])
def test_a_client_assertion_signed_with_a_registered_key_is_accepted(key, alg, kid):
    token = assertion(key=key, alg=alg, kid=kid)
    assert peek_issuer(token) == "agent-7"
    proof = check(token)
    assert (proof.kind, proof.subject, proof.key_id) == (ProofKind.CLIENT_ASSERTION, "agent-7", kid)


def test_a_replayed_assertion_jti_is_refused():
    ledger = MemoryJtiLedger()
    check(assertion(), ledger)
    error = refused("replayed", check, assertion(), ledger)
    assert "j-1" in error.reason
    assert check(assertion(jti="j-2"), ledger).subject == "agent-7"


def test_a_forged_assertion_does_not_use_up_the_jti():
    ledger = MemoryJtiLedger()
    refused("unknown_kid", check, assertion(key=ed25519.Ed25519PrivateKey.generate(), kid="not-registered"), ledger)
    refused("invalid_signature", check, assertion(key=ed25519.Ed25519PrivateKey.generate()), ledger)
    assert check(assertion(), ledger).subject == "agent-7"


def test_an_assertion_signed_with_rsa_is_refused_even_with_a_registered_rsa_key():
    error = refused("unsupported_alg", check, assertion(key=RSA_KEY, alg="RS256", kid="rsa-1"))
    assert "EdDSA" in error.reason


@pytest.mark.parametrize(
    ("claims", "code", "words"),
    [
        ({"sub": "agent-8"}, "invalid_token", "`sub` must equal"),
        ({"iss": "agent-8", "sub": "agent-8"}, "wrong_issuer", "agent-7"),
        ({"aud": "https://agentiam.example/other"}, "wrong_audience", TOKEN_ENDPOINT),
        ({"aud": [TOKEN_ENDPOINT, "https://other.example/token"]}, "wrong_audience", "single-audience"),
        ({"exp": T + 3600}, "invalid_token", "at most 300 s"),
        ({"exp": T - 60}, "expired", "expired"),
        ({"jti": ""}, "invalid_token", "`jti`"),
    ],
)
def test_an_assertion_that_breaks_rfc_7523_is_refused(claims, code, words):
    error = refused(code, check, assertion(claims))
    assert words in error.reason


def test_an_assertion_without_jti_is_refused():
    token = jwt.encode(
        {"iss": "agent-7", "sub": "agent-7", "aud": TOKEN_ENDPOINT, "exp": T + 60},
        ED_KEY,
        algorithm="EdDSA",
        headers={"kid": "ed-1"},
    )
    error = refused("invalid_token", check, token)
    assert "`jti`" in error.reason


# Provenance


DIGEST_RULE = ProvenanceRule(issuer="spiffe://prod.example.com", claim="image_digest", per_identity=True)


def test_an_image_digest_among_the_identitys_allowed_digests_passes():
    proof = verify(svid({"image_digest": "sha256:good"}))
    check_provenance(proof, [DIGEST_RULE], {"image_digest": {"sha256:good", "sha256:older"}})


def test_a_disallowed_image_digest_is_refused():
    proof = verify(svid({"image_digest": "sha256:tampered"}))
    error = refused("provenance_failed", check_provenance, proof, [DIGEST_RULE], {"image_digest": {"sha256:good"}})
    assert "image_digest" in error.reason
    refused("provenance_failed", check_provenance, proof, [DIGEST_RULE], {})


def test_a_missing_provenance_claim_is_refused():
    error = refused("provenance_failed", check_provenance, verify(svid()), [DIGEST_RULE], {"image_digest": {"x"}})
    assert "no `image_digest` claim" in error.reason


def test_issuer_wide_allowed_values_apply_and_rules_for_other_issuers_are_ignored():
    rules = [
        ProvenanceRule(issuer="spiffe://prod.example.com", claim="cluster", allowed_values=frozenset({"eu-1"})),
        ProvenanceRule(issuer=ISSUER, claim="acr", allowed_values=frozenset({"mfa"})),
    ]
    check_provenance(verify(svid({"cluster": "eu-1"})), rules)
    refused("provenance_failed", check_provenance, verify(svid({"cluster": "us-9"})), rules)


def test_time_moves_with_the_clock_passed_in():
    token = svid({"exp": T + 300})
    refused("expired", verify_jwt_svid, token, bundles=BUNDLES, now=NOW + timedelta(minutes=6))
