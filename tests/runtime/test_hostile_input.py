"""Hostile input on the runtime's machine endpoints (token, decide, introspect): malformed, non-UTF-8,
binary, deep or huge bodies and token payloads get a 4xx naming the field or limit (or, for a token inside a
well-formed request, an inactive answer) and change nothing — never a 500 or a RecursionError."""

from __future__ import annotations

import base64

import pytest
from django.test import Client

from audit.models import AuditEntry
from identities.runtime.models import IssuedToken, JtiLedgerEntry
from tests.runtime_support import (
    DECIDE_URL,
    INTROSPECT_URL,
    TOKEN_URL,
    decide,
    exchange,
    introspect,
    svid,
)

pytestmark = pytest.mark.django_db


def nested(levels: int) -> str:
    return "[" * levels + "]" * levels


def b64(data: str) -> str:
    return base64.urlsafe_b64encode(data.encode()).rstrip(b"=").decode()


def deep_token(levels: int, *, where: str = "claims") -> str:
    header, claims = '{"alg": "RS256", "kid": "svid-1", "typ": "JWT"}', '{"sub": "x", "deep": ' + nested(levels) + "}"
    if where == "header":
        header = '{"alg": "RS256", "kid": "svid-1", "deep": ' + nested(levels) + "}"
    return f"{b64(header)}.{b64(claims)}.{b64('sig')}"


def state() -> tuple[int, int, int]:
    return IssuedToken.objects.count(), JtiLedgerEntry.objects.count(), AuditEntry.objects.count()


BODIES = [
    pytest.param(b"{not json", "parse_error", "not valid JSON", id="malformed"),
    pytest.param(b'{"token": "\xff\xfe"}', "parse_error", "not UTF-8", id="invalid utf-8"),
    pytest.param(bytes(range(1, 256)) * 4, "parse_error", "", id="binary"),
    pytest.param(nested(100_000).encode(), "json_too_deep", "64 levels", id="100000 deep"),
    pytest.param(b'{"token": NaN}', "parse_error", "NaN", id="nan"),
]


def post(url: str, body: bytes, credential: str | None):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {credential}"} if credential else {}
    return Client().post(url, body, content_type="application/json", **headers)


@pytest.mark.parametrize(("body", "code", "names"), BODIES)
@pytest.mark.parametrize("url", [TOKEN_URL, DECIDE_URL, INTROSPECT_URL])
def test_a_bad_body_is_a_400_naming_the_limit_on_every_machine_endpoint(estate, url, body, code, names):
    before = state()
    response = post(url, body, None if url == TOKEN_URL else estate.credential)
    assert response.status_code == 400, response.content[:300]
    answer = response.json()
    assert names in answer["detail"] and answer["fields"] == {"body": [answer["detail"]]}
    if url == TOKEN_URL:  # RFC 6749's shape, the limit's code beside it
        assert answer["error"] == "invalid_request" and answer["limit"] == code and answer["error_description"]
    else:
        assert answer["error"] == code
    assert state() == before


@pytest.mark.parametrize("url", [TOKEN_URL, DECIDE_URL])
def test_a_nul_character_is_refused_in_the_endpoint_s_documented_shape(estate, url):
    before = state()
    response = post(url, b'{"subject_token": "a\\u0000b"}', None if url == TOKEN_URL else estate.credential)
    answer = response.json()
    assert response.status_code == 400 and answer["fields"] and "NUL" in answer["detail"]
    if url == TOKEN_URL:  # what the schema documents for the token endpoint (OAuthError)
        assert answer["error"] == "invalid_request" and answer["error_description"] == answer["detail"]
        assert answer["limit"] == "nul_character"
    else:
        assert answer["error"] == "nul_character"
    assert state() == before


def test_a_body_over_the_json_size_limit_is_refused_naming_it(estate, settings):
    settings.JSON_MAX_BYTES = 2048
    response = decide(estate.credential, "x" * 3000)
    assert response.status_code == 400
    assert response.json()["error"] == "json_too_large" and "2048 bytes" in response.json()["detail"]


@pytest.mark.parametrize("where", ["claims", "header"])
@pytest.mark.parametrize("levels", [65, 5000])
def test_a_deep_subject_token_is_an_invalid_grant_naming_the_limit(estate, where, levels):
    before = state()
    response = exchange(subject_token=deep_token(levels, where=where))
    assert response.status_code == 400, response.content[:300]
    assert "64 levels" in response.json()["error_description"]
    assert state() == before


def test_a_deep_client_assertion_is_refused_naming_the_limit(estate):
    response = exchange(
        client_assertion=deep_token(3000),
        client_assertion_type="urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
    )
    assert 400 <= response.status_code < 500 and "64 levels" in response.json()["error_description"]


@pytest.mark.parametrize("levels", [65, 1500])
def test_a_deep_access_token_is_denied_at_decide_and_inactive_at_introspect(estate, levels):
    before = state()
    token = deep_token(levels)
    decided = decide(estate.credential, token)
    assert decided.status_code == 200 and decided.json()["decision"] == "deny"
    assert introspect(estate.credential, token).json() == {"active": False}
    assert state()[0] == before[0]


def test_a_well_formed_exchange_still_works(estate):
    assert exchange(subject_token=svid()).status_code == 200
