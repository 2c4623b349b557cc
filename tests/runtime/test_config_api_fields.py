"""Runtime configuration over the API takes what the docs say: a trust bundle's audience defaults to our
token endpoint, and a description given on create is kept (it was read-only, so silently dropped)."""

from __future__ import annotations

import pytest
from django.conf import settings

from identities.runtime.models import OidcIssuer, TrustBundle
from tests.runtime.test_config import BUNDLE
from tests.runtime_support import OIDC_KEY, public_jwk

pytestmark = pytest.mark.django_db


def test_a_trust_bundle_created_over_the_api_defaults_its_audience_and_keeps_its_description(cast, client_factory):
    client = client_factory(cast.administrator)
    body = {"trust_domain": "dev.example.com", "bundle": BUNDLE, "description": "dev cluster SPIRE"}
    response = client.post("/api/v1/runtime-config/trust-bundles/", body, content_type="application/json")
    assert response.status_code == 201, response.content
    assert response.json()["audience"] == settings.RUNTIME_TOKEN_ENDPOINT
    assert response.json()["description"] == "dev cluster SPIRE"
    row = TrustBundle.objects.get(trust_domain="dev.example.com")
    assert (row.audience, row.description) == (settings.RUNTIME_TOKEN_ENDPOINT, "dev cluster SPIRE")


def test_every_config_create_keeps_its_description(cast, client_factory):
    client = client_factory(cast.administrator)
    body = {
        "issuer": "https://login.example.com", "audience": "agentiam",
        "jwks": {"keys": [public_jwk(OIDC_KEY, "k1")]}, "description": "corporate IdP",
    }  # fmt: skip
    response = client.post("/api/v1/runtime-config/oidc-issuers/", body, content_type="application/json")
    assert response.status_code == 201, response.content
    assert OidcIssuer.objects.get().description == "corporate IdP"
