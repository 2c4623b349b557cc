"""Runtime configuration through the pages and /api/v1/runtime-config/: who may read and change it, and what
the services refuse."""

import json

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from agentiam.permissions import SEE_EVERYTHING, Role
from audit.models import AuditEntry
from identities import services as registry
from identities.models import Identity
from identities.runtime import services as runtime
from identities.runtime.models import AssertionKey, DelegationRule, Gateway, ProvenanceRule, TrustBundle
from identities.runtime.views.config import KINDS
from tests.cast import check_access
from tests.runtime_support import CLIENT_KEY, SVID_KEY, access_token, decide, public_jwk

pytestmark = pytest.mark.django_db
BUNDLE = {"keys": [public_jwk(SVID_KEY, "k1", use="jwt-svid")]}


@pytest.mark.parametrize("slug", list(KINDS))
def test_configuration_lists_are_for_the_see_everything_roles(
    estate, client_factory, slug, django_assert_max_num_queries
):
    check_access(client_factory, f"/runtime/{slug}/", cast=estate.cast, allowed=SEE_EVERYTHING)
    client = client_factory(estate.cast.auditor)
    with django_assert_max_num_queries(12):
        response = client.get(f"/runtime/{slug}/")
    assert response.context["can_manage"] is False  # auditors get no add button


@pytest.mark.parametrize("slug", list(KINDS))
def test_only_administrators_open_the_add_forms(estate, client_factory, slug):
    check_access(client_factory, f"/runtime/{slug}/new/", cast=estate.cast, allowed=[Role.ADMINISTRATOR])


def test_the_gateway_list_does_not_grow_queries_with_rows(estate, client_factory, django_assert_max_num_queries):
    client = client_factory(estate.cast.administrator)
    client.get("/runtime/gateways/")
    for n in range(20):
        runtime.gateway_create(
            actor=estate.cast.administrator, name=f"gw-{n}", audiences=[f"https://gw{n}.example"], environment="dev"
        )
    with django_assert_max_num_queries(12):
        response = client.get("/runtime/gateways/")
    assert b"gw-19" in response.content


def test_an_administrator_adds_a_gateway_and_sees_its_credential_once(estate, client_factory):
    client = client_factory(estate.cast.administrator)
    response = client.post(
        "/runtime/gateways/new/",
        {"name": "edge-gw", "audiences": "https://edge.example/mcp\nhttps://edge.example/api", "environment": "prod"},
    )
    assert response.status_code == 200 and response["Cache-Control"].startswith("max-age=0")
    gateway = Gateway.objects.get(name="edge-gw")
    assert gateway.audiences == ["https://edge.example/mcp", "https://edge.example/api"]
    assert gateway.identity.kind == "service_account" and gateway.identity.name == "edge-gw"
    secret = response.context["secret"]
    assert secret.startswith(f"aiamgw_{gateway.prefix}_") and secret.encode() in response.content
    assert secret not in json.dumps(list(Gateway.objects.values()), default=str)
    assert AuditEntry.objects.filter(action="gateway.create", object_id=str(gateway.uuid)).exists()
    assert secret.encode() not in client.get("/runtime/gateways/").content


def test_an_audience_belongs_to_one_gateway(estate, client_factory):
    client = client_factory(estate.cast.administrator)
    response = client.post(
        "/runtime/gateways/new/", {"name": "dup-gw", "audiences": "https://tools.example.com/mcp", "environment": "dev"}
    )
    assert response.status_code == 400
    assert "already served by gateway &#x27;tools-gw&#x27;" in response.content.decode()
    assert not Gateway.objects.filter(name="dup-gw").exists()
    assert not Identity.objects.filter(name="dup-gw").exists()


def test_a_rotated_gateway_credential_replaces_the_old_one_at_once(estate, client_factory):
    client = client_factory(estate.cast.administrator)
    response = client.post(f"/runtime/gateways/{estate.gateway.uuid}/rotate/")
    assert response.status_code == 200
    new = response.context["secret"]
    token = access_token()["access_token"]
    assert decide(estate.credential, token).status_code == 401
    assert decide(new, token).json()["decision"] == "allow"


def test_disabling_asks_for_a_reason_and_is_audited(estate, client_factory):
    client = client_factory(estate.cast.administrator)
    url = f"/runtime/gateways/{estate.other_gateway.uuid}/disable/"
    assert client.post(url, {"reason": ""}).status_code == 400
    assert client.post(url, {"reason": "moved to the new edge"}).status_code == 302
    estate.other_gateway.refresh_from_db()
    assert estate.other_gateway.disabled_at is not None
    assert AuditEntry.objects.get(action="gateway.disable").changes == {"reason": "moved to the new edge"}
    check_access(client_factory, url, cast=estate.cast, allowed=[Role.ADMINISTRATOR])


def test_a_trust_bundle_must_hold_usable_svid_keys(estate, client_factory):
    client = client_factory(estate.cast.administrator)
    bad = {"trust_domain": "dev.example.com", "audience": "x", "bundle": json.dumps({"keys": [{"kty": "oct"}]})}
    response = client.post("/runtime/trust-bundles/new/", bad)
    assert response.status_code == 400 and "no usable key" in response.content.decode()
    good = {**bad, "bundle": json.dumps(BUNDLE)}
    assert client.post("/runtime/trust-bundles/new/", good).status_code == 302
    assert TrustBundle.objects.filter(trust_domain="dev.example.com").exists()


@pytest.mark.parametrize("domain", ["spiffe://x.example", "Prod.Example.com", "x.example/path", ""])
def test_a_trust_domain_is_a_bare_spiffe_trust_domain(estate, domain):
    with pytest.raises(ValidationError) as caught:
        runtime.trust_bundle_create(actor=estate.cast.administrator, trust_domain=domain, audience="a", bundle=BUNDLE)
    assert "trust_domain" in caught.value.message_dict


def test_a_bundle_needs_either_inline_keys_or_an_https_url(estate):
    admin = estate.cast.administrator
    with pytest.raises(ValidationError):
        runtime.trust_bundle_create(actor=admin, trust_domain="a.example", audience="a")
    with pytest.raises(ValidationError) as caught:
        runtime.trust_bundle_create(
            actor=admin, trust_domain="a.example", audience="a", bundle_url="http://a.example/b"
        )
    assert "bundle_url" in caught.value.message_dict


def test_an_assertion_key_must_be_public_and_fit_its_algorithm(estate):
    admin = estate.cast.administrator
    with pytest.raises(ValidationError, match="private key material"):
        runtime.assertion_key_create(
            actor=admin, identity=estate.agent, jwk={**public_jwk(CLIENT_KEY, "k"), "d": "c2VjcmV0"}, algorithm="EdDSA"
        )
    with pytest.raises(ValidationError, match="needs a EC P-256 key"):
        runtime.assertion_key_create(
            actor=admin, identity=estate.agent, jwk=public_jwk(CLIENT_KEY, "k"), algorithm="ES256"
        )


def test_an_administrator_may_not_register_keys_or_delegation_on_an_identity_they_own(estate):
    admin = estate.cast.administrator
    own = registry.identity_create(actor=admin, accountable_owner=admin, kind="agent", name="admins", environment="dev")
    with pytest.raises(PermissionDenied):
        runtime.assertion_key_create(actor=admin, identity=own, jwk=public_jwk(CLIENT_KEY, "k"), algorithm="EdDSA")
    with pytest.raises(PermissionDenied):
        runtime.delegation_rule_create(actor=admin, actor_identity=own, subject=estate.agent)
    assert not AssertionKey.objects.exists() and not DelegationRule.objects.exists()


def test_a_provenance_rule_that_checks_nothing_is_refused(estate):
    with pytest.raises(ValidationError, match="checks nothing"):
        runtime.provenance_rule_create(
            actor=estate.cast.administrator, issuer="spiffe://prod.example.com", claim="image_digest", allowed_values=[]
        )


# --- the API --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("slug", list(KINDS))
def test_the_configuration_api_is_read_by_the_see_everything_roles(estate, client_factory, slug):
    check_access(client_factory, f"/api/v1/runtime-config/{slug}/", cast=estate.cast, allowed=SEE_EVERYTHING)


def test_an_administrator_registers_a_gateway_through_the_api_and_gets_its_credential_once(estate, client_factory):
    body = {"name": "api-gw", "audiences": ["https://api-gw.example"], "environment": "staging"}
    statuses = check_access(
        client_factory, "/api/v1/runtime-config/gateways/", cast=estate.cast, allowed=[Role.ADMINISTRATOR],
        method="post", data=lambda who: {**body, "name": f"api-gw-{who}", "audiences": [f"https://{who}.example"]},
        expect_allowed=(201,),
    )  # fmt: skip
    assert statuses["administrator"] == 201
    client = client_factory(estate.cast.administrator)
    created = client.post("/api/v1/runtime-config/gateways/", body, content_type="application/json").json()
    assert created["credential"].startswith("aiamgw_") and created["credential_prefix"] in created["credential"]
    listed = client.get("/api/v1/runtime-config/gateways/").json()
    assert all("credential" not in row and created["credential"] not in str(row) for row in listed["results"])


def test_bad_input_through_the_api_names_the_field(estate, client_factory):
    client = client_factory(estate.cast.administrator)
    response = client.post(
        "/api/v1/runtime-config/provenance-rules/",
        {"issuer": "spiffe://prod.example.com", "claim": "bad claim!", "allowed_values": ["x"]},
        content_type="application/json",
    )
    assert response.status_code == 400 and "claim" in response.json()["fields"]
    assert not ProvenanceRule.objects.exists()


def test_disabling_through_the_api_and_twice_is_a_conflict(estate, client_factory):
    client = client_factory(estate.cast.administrator)
    url = f"/api/v1/runtime-config/trust-bundles/{TrustBundle.objects.get().uuid}/disable/"
    first = client.post(url, {"reason": "rotating the domain"}, content_type="application/json")
    assert first.status_code == 200 and first.json()["enabled"] is False
    assert client.post(url, {"reason": "again"}, content_type="application/json").status_code == 409
    denied = client_factory(estate.cast.auditor).post(url, {"reason": "x"}, content_type="application/json")
    assert denied.status_code == 403


def test_delegation_rules_are_added_through_the_api(estate, client_factory):
    client = client_factory(estate.cast.administrator)
    response = client.post(
        "/api/v1/runtime-config/delegation-rules/",
        {"actor": str(estate.orchestrator.uuid), "subject": str(estate.agent.uuid)},
        content_type="application/json",
    )
    assert response.status_code == 201, response.json()
    assert DelegationRule.objects.get().actor == estate.orchestrator


def test_the_gateway_credential_and_detail_endpoints_follow_the_same_roles(estate, client_factory):
    cast = estate.cast
    check_access(
        client_factory, f"/runtime/gateways/{estate.gateway.uuid}/rotate/", cast=cast, allowed=[Role.ADMINISTRATOR]
    )
    api = f"/api/v1/runtime-config/gateways/{estate.gateway.uuid}/"
    check_access(client_factory, api, cast=cast, allowed=SEE_EVERYTHING)
    check_access(
        client_factory, api + "rotate-credential/", cast=cast, allowed=[Role.ADMINISTRATOR], method="post",
        expect_allowed=(200,),
    )  # fmt: skip
    check_access(
        client_factory, api + "disable/", cast=cast, allowed=[Role.ADMINISTRATOR], method="post",
        data={"reason": "retired"}, expect_allowed=(200, 409),
    )  # fmt: skip


def test_the_reasons_page_is_for_every_role(estate, client_factory):
    from agentiam.permissions import ALL_ROLES

    check_access(client_factory, "/runtime/reasons/", cast=estate.cast, allowed=ALL_ROLES)
