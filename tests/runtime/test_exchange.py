"""The token service (RFC 8693) over HTTP: what it issues, what it records, and every proof it refuses."""

import base64
import hashlib
import hmac
import json
import time
import uuid
from datetime import timedelta

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from django.conf import settings
from django.utils import timezone

from audit.models import SigningKey
from identities import services as registry
from identities.models import Identity, Task
from identities.runtime import services as runtime
from identities.runtime.models import IssuedToken
from tests.runtime_support import (
    ACTOR_SPIFFE_ID,
    ASSERTION_TYPE,
    ATTACKER_KEY,
    AUDIENCE,
    CLIENT_KEY,
    DIGEST,
    ID_TOKEN_TYPE,
    OIDC_ISSUER,
    OIDC_KEY,
    OTHER_DOMAIN_KEY,
    SPIFFE_ID,
    SVID_KEY,
    TRUST_DOMAIN,
    access_token,
    exchange,
    public_jwk,
    svid,
)

pytestmark = pytest.mark.django_db


def claims_of(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_a_jwt_svid_is_exchanged_for_an_eddsa_access_token_scoped_to_the_task(estate):
    answer = access_token()
    header = jwt.get_unverified_header(answer["access_token"])
    key = SigningKey.objects.get(purpose="token", status="active")
    assert header == {"alg": "EdDSA", "kid": key.kid, "typ": "at+jwt"}
    public = jwt.PyJWK({"kty": "OKP", "crv": "Ed25519", "x": key.public_key}, algorithm="EdDSA")
    claims = jwt.decode(answer["access_token"], public, algorithms=["EdDSA"], audience=AUDIENCE)
    task = Task.objects.get(identity=estate.agent, name="triage-42")
    assert claims["iss"] == settings.RUNTIME_ISSUER
    assert claims["sub"] == claims["client_id"] == str(estate.agent.uuid)
    assert claims["scope"] == "github.read_repo:read"
    assert claims["task_id"] == answer["task_id"] == str(task.uuid)
    assert "act" not in claims
    assert 0 < claims["exp"] - claims["iat"] <= settings.RUNTIME_TOKEN_TTL
    assert answer["token_type"] == "Bearer" and answer["expires_in"] == claims["exp"] - claims["iat"]
    assert answer["issued_token_type"] == "urn:ietf:params:oauth:token-type:access_token"


def test_the_issued_token_is_recorded_without_the_token_itself(estate):
    answer = access_token()
    claims = claims_of(answer["access_token"])
    record = IssuedToken.objects.get(jti=claims["jti"])
    assert record.identity == estate.agent and record.subject == SPIFFE_ID and record.audience == AUDIENCE
    assert record.scopes == ["github.read_repo:read"] and record.task.name == "triage-42"
    assert int(record.expires_at.timestamp()) == claims["exp"]
    stored = json.dumps(list(IssuedToken.objects.values()), default=str)
    assert answer["access_token"] not in stored and answer["access_token"].split(".")[2] not in stored


def test_an_exchange_for_an_open_task_reads_and_writes_in_five_queries(estate, django_assert_max_num_queries):
    access_token()  # the task exists and the signing key is unsealed in this process
    with django_assert_max_num_queries(5):  # context, identifier, task, coverage, the issued-token record
        access_token()


def test_form_bodies_work_like_json_and_the_same_task_name_reuses_the_task(estate):
    first = access_token()
    second = exchange(form=True)
    assert second.status_code == 200, second.json()
    assert second.json()["task_id"] == first["task_id"]
    assert second["Cache-Control"] == "no-store"
    assert Task.objects.filter(identity=estate.agent).count() == 1


def refusal(response, status=400, error="invalid_grant"):
    assert response.status_code == status, response.content
    body = response.json()
    assert body["error"] == error, body
    assert body["error_description"] and body["detail"] == body["error_description"]
    return body


def _none_token():
    header = b64(json.dumps({"alg": "none", "kid": "svid-1", "typ": "JWT"}).encode())
    payload = b64(
        json.dumps({"sub": SPIFFE_ID, "aud": settings.RUNTIME_TOKEN_ENDPOINT, "exp": time.time() + 60}).encode()
    )
    return f"{header}.{payload}."


def _hmac_with_public_key():
    public_pem = SVID_KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = b64(json.dumps({"alg": "HS256", "kid": "svid-1", "typ": "JWT"}).encode())
    payload = b64(
        json.dumps({"sub": SPIFFE_ID, "aud": settings.RUNTIME_TOKEN_ENDPOINT, "exp": time.time() + 60}).encode()
    )
    signature = hmac.new(public_pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{b64(signature)}"


REFUSED_PROOFS = {
    "alg none": (_none_token, "unsupported_alg", "alg 'none'"),
    "HMAC keyed with the public key": (_hmac_with_public_key, "unsupported_alg", "HS256"),
    "an attacker's key under our kid": (lambda: svid(key=ATTACKER_KEY), "invalid_signature", "signature"),
    "a jku header": (lambda: svid(headers={"jku": "https://evil.example/jwks"}), "invalid_token", "jku"),
    "a jwk header": (lambda: svid(headers={"jwk": public_jwk(ATTACKER_KEY, "x")}), "invalid_token", "jwk"),
    "a wrong audience": (lambda: svid(aud="https://elsewhere.example"), "wrong_audience", "aud"),
    "an expired token": (lambda: svid(exp=int(time.time()) - 120), "expired", "expired"),
    "a future nbf": (lambda: svid(nbf=int(time.time()) + 600), "not_yet_valid", "nbf"),
    "another trust domain": (
        lambda: svid("spiffe://evil.example.org/agent/triage", key=OTHER_DOMAIN_KEY, alg="ES256"),
        "untrusted_domain",
        "evil.example.org",
    ),
    "a SPIFFE ID with a query": (lambda: svid(SPIFFE_ID + "?admin=1"), "invalid_spiffe_id", "query"),
}


@pytest.mark.parametrize("case", REFUSED_PROOFS, ids=list(REFUSED_PROOFS))
def test_a_bad_proof_is_refused_with_a_4xx_and_a_clear_reason(estate, case):
    make, code, words = REFUSED_PROOFS[case]
    body = refusal(exchange(subject_token=make()))
    assert body["proof_error"] == code
    assert words in body["error_description"]
    assert body["fields"] == {"subject_token": [body["error_description"]]}
    assert not IssuedToken.objects.exists()


def test_a_suspended_identity_gets_no_token(estate):
    runtime.identity_suspend(identity=estate.agent, actor=estate.cast.security_analyst, reason="leaked key")
    body = refusal(exchange())
    assert body["proof_error"] == "identity_not_active" and "suspended" in body["error_description"]


def test_a_disallowed_image_digest_is_refused_by_the_provenance_rule(estate):
    runtime.provenance_rule_create(
        actor=estate.cast.administrator, issuer=f"spiffe://{TRUST_DOMAIN}", claim="image_digest", allowed_values=[],
        identity_field="allowed_image_digests",
    )  # fmt: skip
    assert exchange(subject_token=svid(image_digest=DIGEST)).status_code == 200
    body = refusal(exchange(subject_token=svid(image_digest="sha256:" + "ee" * 32)))
    assert body["proof_error"] == "provenance_failed" and "image_digest" in body["error_description"]
    assert refusal(exchange(subject_token=svid()))["proof_error"] == "provenance_failed"  # no digest at all


def test_an_unknown_workload_is_refused_naming_the_missing_identifier(estate):
    body = refusal(exchange(subject_token=svid(f"spiffe://{TRUST_DOMAIN}/agent/stranger")))
    assert body["proof_error"] == "unknown_subject" and "stranger" in body["error_description"]


def test_our_own_access_token_is_never_exchanged_again(estate):
    token = access_token()["access_token"]
    body = refusal(exchange(subject_token=token), error="invalid_request")
    assert "never exchanged" in body["error_description"]
    body = refusal(
        exchange(actor_token=token, actor_token_type="urn:ietf:params:oauth:token-type:jwt"), error="invalid_request"
    )
    assert body["fields"] == {"actor_token": [body["error_description"]]}


def test_a_missing_scope_is_named_with_how_to_ask_for_elevation(estate):
    body = refusal(exchange(scope="github.read_repo:read github.create_pull_request:write"), error="invalid_scope")
    assert body["missing_scopes"] == ["github.create_pull_request:write"]
    assert "github.create_pull_request:write" in body["error_description"]
    assert "JIT elevation" in body["error_description"] and "triage-42" in body["error_description"]
    # The task exists, so an elevation request can name it.
    assert body["task_id"] == str(Task.objects.get(identity=estate.agent, name="triage-42").uuid)
    assert not IssuedToken.objects.exists()


def test_a_jit_grant_of_the_task_covers_the_scope_and_caps_the_token_at_the_grants_end(estate):
    refusal(exchange(scope="github.create_pull_request:write"), error="invalid_scope")
    task = Task.objects.get(identity=estate.agent, name="triage-42")
    ends_at = timezone.now() + timedelta(minutes=4)
    registry.grant_create(
        identity=estate.agent, task=task, entries=[(estate.create_pr, "write", {})], ends_at=ends_at,
        actor=estate.cast.manager,
    )  # fmt: skip
    answer = access_token(scope="github.create_pull_request:write")
    assert claims_of(answer["access_token"])["exp"] <= ends_at.timestamp()
    # The grant is bound to this task: another task of the same agent is not covered.
    refusal(exchange(scope="github.create_pull_request:write", task="other-task"), error="invalid_scope")


def test_a_critical_identity_gets_a_shorter_token(estate):
    Identity.objects.filter(pk=estate.agent.pk).update(risk_tier="critical")
    claims = claims_of(access_token()["access_token"])
    assert claims["exp"] - claims["iat"] <= settings.RUNTIME_TOKEN_TTL_CRITICAL < settings.RUNTIME_TOKEN_TTL


def test_a_completed_task_cannot_be_named_again(estate):
    task_id = access_token()["task_id"]
    runtime.task_end(task=Task.objects.get(uuid=task_id))
    body = refusal(exchange())
    assert body["fields"] == {"task": [body["error_description"]]} and "completed" in body["error_description"]


def actor_params(**extra):
    return {"actor_token": svid(ACTOR_SPIFFE_ID), "actor_token_type": "urn:ietf:params:oauth:token-type:jwt", **extra}


def test_delegation_needs_a_rule_saying_who_may_act_for_whom(estate):
    body = refusal(exchange(**actor_params()))
    assert "orchestrator may not act for triage-bot" in body["error_description"]
    assert body["fields"] == {"actor_token": [body["error_description"]]}


def test_a_delegated_token_names_the_actor_in_act_and_is_narrowed_by_the_actors_access(estate):
    runtime.delegation_rule_create(
        actor=estate.cast.administrator, actor_identity=estate.orchestrator, subject=estate.agent
    )
    claims = claims_of(access_token(**actor_params())["access_token"])
    assert claims["sub"] == str(estate.agent.uuid)
    assert claims["act"] == {"sub": str(estate.orchestrator.uuid)}
    assert claims["client_id"] == str(estate.orchestrator.uuid)
    record = IssuedToken.objects.get(jti=claims["jti"])
    assert record.actor == estate.orchestrator and record.act_chain == [str(estate.orchestrator.uuid)]
    # The subject may write through a grant, but the actor has no such access: the token cannot carry it.
    task = Task.objects.get(identity=estate.agent, name="triage-42")
    registry.grant_create(
        identity=estate.agent, task=task, entries=[(estate.create_pr, "write", {})],
        ends_at=timezone.now() + timedelta(minutes=30), actor=estate.cast.manager,
    )  # fmt: skip
    assert exchange(scope="github.create_pull_request:write").status_code == 200
    body = refusal(exchange(scope="github.create_pull_request:write", **actor_params()), error="invalid_scope")
    assert "orchestrator" in body["error_description"] and body["missing_scopes"] == [
        "github.create_pull_request:write"
    ]


def test_earlier_actors_in_the_subject_token_are_nested_inside_the_current_one(estate):
    runtime.delegation_rule_create(
        actor=estate.cast.administrator, actor_identity=estate.orchestrator, subject=estate.agent
    )
    upstream = {"sub": "spiffe://prod.example.com/agent/planner", "act": {"sub": "user:alice"}}
    claims = claims_of(access_token(subject_token=svid(act=upstream), **actor_params())["access_token"])
    assert claims["act"] == {"sub": str(estate.orchestrator.uuid), "act": upstream}


@pytest.mark.parametrize(
    ("params", "error", "field"),
    [
        ({"grant_type": "client_credentials"}, "unsupported_grant_type", "grant_type"),
        ({"task": None}, "invalid_request", "task"),
        ({"subject_token_type": "urn:ietf:params:oauth:token-type:saml2"}, "invalid_request", "subject_token_type"),
        ({"audience": "https://nobody.example"}, "invalid_target", "audience"),
        ({"audience": [AUDIENCE, "https://other.example.com/mcp"]}, "invalid_target", "audience"),
        ({"scope": "github.read_repo"}, "invalid_scope", "scope"),
        ({"scope": "nope.tool:read"}, "invalid_scope", "scope"),
        ({"scope": "github.read_repo:write"}, "invalid_scope", "scope"),
        ({"actor_token": "x.y.z"}, "invalid_request", "actor_token_type"),
        ({"task": "bad\nname"}, "invalid_request", "task"),
    ],
)
def test_malformed_requests_get_rfc_6749_errors_naming_the_parameter(estate, params, error, field):
    body = refusal(exchange(**params), error=error)
    assert field in body["fields"]


def test_a_parameter_given_twice_in_a_form_is_refused(estate):
    response = exchange(form=True, scope=["github.read_repo:read", "github.read_repo:read"])
    assert refusal(response, error="invalid_request")["fields"] == {"scope": ["scope must be given once."]}


def test_a_client_secret_in_the_authorization_header_is_an_unauthenticated_client(estate, client):
    client.defaults["HTTP_AUTHORIZATION"] = "Basic YWdlbnQ6c2VjcmV0"
    response = exchange(client)
    refusal(response, status=401, error="invalid_client")
    assert response["WWW-Authenticate"].startswith("Bearer")


def assertion(identity, *, jti=None, key=CLIENT_KEY, kid="ed-1", **claims):
    now = int(time.time())
    payload = {
        "iss": str(identity.uuid), "sub": str(identity.uuid), "aud": settings.RUNTIME_TOKEN_ENDPOINT,
        "exp": now + 60, "iat": now, "jti": jti or uuid.uuid4().hex, **claims,
    }  # fmt: skip
    return jwt.encode(payload, key, algorithm="EdDSA", headers={"kid": kid})


def test_a_client_assertion_signed_with_a_registered_key_is_a_proof_used_once(estate):
    runtime.assertion_key_create(
        actor=estate.cast.administrator, identity=estate.agent, jwk=public_jwk(CLIENT_KEY, "ed-1"), algorithm="EdDSA"
    )
    token = assertion(estate.agent, jti="once")
    claims = claims_of(access_token(subject_token=token, subject_token_type=ASSERTION_TYPE)["access_token"])
    assert claims["sub"] == str(estate.agent.uuid)
    replay = refusal(exchange(subject_token=token, subject_token_type=ASSERTION_TYPE))
    assert replay["proof_error"] == "replayed"


def test_a_failed_client_authentication_is_401_invalid_client(estate):
    runtime.assertion_key_create(
        actor=estate.cast.administrator, identity=estate.agent, jwk=public_jwk(CLIENT_KEY, "ed-1"), algorithm="EdDSA"
    )
    forged = assertion(
        estate.agent, key=__import__("cryptography").hazmat.primitives.asymmetric.ed25519.Ed25519PrivateKey.generate()
    )
    body = refusal(
        exchange(client_assertion=forged, client_assertion_type=ASSERTION_TYPE), status=401, error="invalid_client"
    )
    assert body["proof_error"] == "invalid_signature"
    good = assertion(estate.agent)
    assert exchange(client_assertion=good, client_assertion_type=ASSERTION_TYPE).status_code == 200


def test_an_oidc_id_token_maps_through_the_issuer_and_subject(estate):
    runtime.oidc_issuer_create(
        actor=estate.cast.administrator, issuer=OIDC_ISSUER, audience="agentiam",
        jwks={"keys": [public_jwk(OIDC_KEY, "oidc-1", use="sig")]},
    )  # fmt: skip
    registry.identifier_add(identity=estate.agent, actor=estate.cast.identity_owner, kind="oidc_subject",
                            value=f"{OIDC_ISSUER}|svc-triage")  # fmt: skip
    now = int(time.time())
    id_token = jwt.encode(
        {"iss": OIDC_ISSUER, "sub": "svc-triage", "aud": "agentiam", "exp": now + 300, "iat": now},
        OIDC_KEY, algorithm="ES256", headers={"kid": "oidc-1"},
    )  # fmt: skip
    claims = claims_of(access_token(subject_token=id_token, subject_token_type=ID_TOKEN_TYPE)["access_token"])
    assert claims["sub"] == str(estate.agent.uuid)
