"""Out-of-range times in signed proofs are an invalid proof (never an OverflowError), and a proof may live
at most the max_proof_lifetime of its trust bundle or OIDC issuer (default 1 hour), set on the page and API."""

from __future__ import annotations

import json
import time
import uuid

import jwt
import pytest
from django.conf import settings

from audit.models import AuditEntry
from identities.runtime import services as runtime
from identities.runtime.models import IssuedToken, JtiLedgerEntry, OidcIssuer, TrustBundle
from tests.runtime_support import (
    ASSERTION_TYPE,
    CLIENT_KEY,
    OIDC_ISSUER,
    OIDC_KEY,
    exchange,
    public_jwk,
    svid,
)

pytestmark = pytest.mark.django_db

OUT_OF_RANGE = [
    pytest.param({"exp": -1e300}, "exp", id="exp=-1e300"),
    pytest.param({"nbf": 1e300}, "nbf", id="nbf=1e300"),
    pytest.param({"iat": 10**30}, "iat", id="iat=10**30"),
    pytest.param({"exp": 10**30}, "exp", id="exp=10**30"),
    pytest.param({"exp": 1e300}, "exp", id="exp=1e300"),
]


def state():
    return IssuedToken.objects.count(), JtiLedgerEntry.objects.count(), AuditEntry.objects.count()


def refused(response, *, status=400, error="invalid_grant") -> dict:
    assert response.status_code == status, response.content[:300]
    body = response.json()
    assert body["error"] == error, body
    return body


@pytest.mark.parametrize(("claims", "name"), OUT_OF_RANGE)
def test_an_svid_with_an_out_of_range_time_is_an_invalid_proof(estate, claims, name):
    before = state()
    body = refused(exchange(subject_token=svid(**claims)))
    assert body["proof_error"] == "invalid_token" and f"`{name}`" in body["error_description"]
    assert body["fields"] == {"subject_token": [body["error_description"]]}
    assert state() == before


def assertion(identity, **claims) -> str:
    now = int(time.time())
    payload = {
        "iss": str(identity.uuid), "sub": str(identity.uuid), "aud": settings.RUNTIME_TOKEN_ENDPOINT,
        "exp": now + 60, "iat": now, "jti": uuid.uuid4().hex, **claims,
    }  # fmt: skip
    return jwt.encode(payload, CLIENT_KEY, algorithm="EdDSA", headers={"kid": "ed-1"})


@pytest.mark.parametrize(("claims", "name"), OUT_OF_RANGE)
def test_a_client_assertion_with_an_out_of_range_time_is_refused(estate, claims, name):
    runtime.assertion_key_create(
        actor=estate.cast.administrator, identity=estate.agent, jwk=public_jwk(CLIENT_KEY, "ed-1"), algorithm="EdDSA"
    )
    before = state()
    as_subject = refused(exchange(subject_token=assertion(estate.agent, **claims), subject_token_type=ASSERTION_TYPE))
    assert as_subject["proof_error"] == "invalid_token" and f"`{name}`" in as_subject["error_description"]
    as_client = exchange(client_assertion=assertion(estate.agent, **claims), client_assertion_type=ASSERTION_TYPE)
    assert refused(as_client, status=401, error="invalid_client")["proof_error"] == "invalid_token"
    assert state() == before


def test_an_svid_living_longer_than_its_bundle_allows_is_refused(estate):
    now = int(time.time())
    day = refused(exchange(subject_token=svid(iat=now, exp=now + 86400)))
    assert day["proof_error"] == "lifetime_too_long" and "at most 3600 s" in day["error_description"]
    no_iat = svid(exp=now + 7200)
    no_iat = jwt.encode(
        {k: v for k, v in jwt.decode(no_iat, options={"verify_signature": False}).items() if k != "iat"},
        __import__("tests.runtime_support", fromlist=["SVID_KEY"]).SVID_KEY,
        algorithm="RS256",
        headers={"kid": "svid-1", "typ": "JWT"},
    )
    assert refused(exchange(subject_token=no_iat))["proof_error"] == "lifetime_too_long"
    assert exchange(subject_token=svid(iat=now, exp=now + 3500)).status_code == 200
    TrustBundle.objects.update(max_proof_lifetime=300)  # SPIRE's five minutes
    assert refused(exchange(subject_token=svid(iat=now, exp=now + 600)))["proof_error"] == "lifetime_too_long"
    assert exchange(subject_token=svid(iat=now, exp=now + 300)).status_code == 200


def test_the_maximum_lifetime_is_set_on_the_page_and_the_api_and_checked(estate, client_factory):
    client = client_factory(estate.cast.administrator)
    bundle = json.dumps({"keys": [public_jwk(OIDC_KEY, "k1", use="jwt-svid")]})
    page = {"trust_domain": "dev.example.com", "audience": "x", "bundle": bundle, "max_proof_lifetime": "300"}
    assert client.post("/runtime/trust-bundles/new/", {**page, "max_proof_lifetime": "10"}).status_code == 400
    assert client.post("/runtime/trust-bundles/new/", page).status_code == 302
    assert TrustBundle.objects.get(trust_domain="dev.example.com").max_proof_lifetime == 300
    default = {**page, "trust_domain": "stage.example.com", "max_proof_lifetime": ""}
    assert client.post("/runtime/trust-bundles/new/", default).status_code == 302
    assert TrustBundle.objects.get(trust_domain="stage.example.com").max_proof_lifetime == 3600
    api = {
        "issuer": OIDC_ISSUER, "audience": "agentiam", "jwks": {"keys": [public_jwk(OIDC_KEY, "k1")]},
        "max_proof_lifetime": 100000,
    }  # fmt: skip
    response = client.post("/api/v1/runtime-config/oidc-issuers/", api, content_type="application/json")
    assert response.status_code == 400 and "max_proof_lifetime" in response.json()["fields"]
    response = client.post(
        "/api/v1/runtime-config/oidc-issuers/", {**api, "max_proof_lifetime": 900}, content_type="application/json"
    )
    assert response.status_code == 201 and response.json()["max_proof_lifetime"] == 900
    assert OidcIssuer.objects.get(issuer=OIDC_ISSUER).max_proof_lifetime == 900
    assert AuditEntry.objects.filter(action="oidc_issuer.create").last().changes["max_proof_lifetime"] == 900
