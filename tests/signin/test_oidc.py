"""Single sign-on through OpenID Connect: the backend's linking rules, exercised with real claim dicts and
real signed ID tokens (no network)."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.contrib.auth import get_user_model
from django.contrib.sessions.backends.db import SessionStore
from django.core.exceptions import SuspiciousOperation
from django.test import RequestFactory
from django.urls import reverse

from agentiam.permissions import Role
from audit.models import AuditEntry
from identities.models import PersonStatus, Profile, SSOLink
from identities.signin.oidc import SSOBackend, asserts_mfa
from tests.cast import make_person

pytestmark = pytest.mark.django_db
ISSUER = "https://idp.example.com/oauth2/default"
OTHER_ISSUER = "https://other-idp.example.net"
CLIENT_ID = "agentiam-web"
User = get_user_model()


@pytest.fixture
def oidc(settings):
    settings.OIDC_OP_ISSUER = ISSUER
    settings.OIDC_ENABLED = True
    settings.OIDC_OP_AUTHORIZATION_ENDPOINT = f"{ISSUER}/v1/authorize"
    settings.OIDC_OP_TOKEN_ENDPOINT = f"{ISSUER}/v1/token"
    settings.OIDC_OP_JWKS_ENDPOINT = f"{ISSUER}/v1/keys"
    settings.OIDC_OP_USER_ENDPOINT = ""
    settings.OIDC_RP_CLIENT_ID = CLIENT_ID
    settings.OIDC_RP_CLIENT_SECRET = "client-secret"
    settings.OIDC_RP_SIGN_ALGO = "RS256"
    settings.OIDC_RP_SCOPES = "openid email profile"
    settings.OIDC_TIMEOUT = 5
    settings.OIDC_USE_PKCE = True
    settings.OIDC_CREATE_USER = False
    settings.OIDC_MFA_ACR_VALUES = ["urn:okta:loa:2fa:any"]
    settings.OIDC_PROVIDER_NAME = "Okta"
    settings.LOGIN_REDIRECT_URL_FAILURE = "/accounts/login/?sso=failed"
    settings.AUTHENTICATION_BACKENDS = [*settings.AUTHENTICATION_BACKENDS, "identities.signin.oidc.SSOBackend"]
    return settings


@pytest.fixture
def backend(oidc) -> SSOBackend:
    instance = SSOBackend()
    request = RequestFactory().get("/oidc/callback/", REMOTE_ADDR="198.51.100.4")
    request.session = SessionStore()
    instance.request = request
    return instance


def claims(**values) -> dict:
    base = {
        "iss": ISSUER,
        "sub": "00u1abcd",
        "aud": CLIENT_ID,
        "email": "dana@example.com",
        "email_verified": True,
        "amr": ["pwd"],
    }
    return {**base, **values}


def sign_in_by_sso(backend: SSOBackend, **values):
    return backend.get_or_create_user("access-token", "id-token", claims(**values))


# --- Linking ------------------------------------------------------------------------------------------


def test_a_linked_account_is_found_by_issuer_and_subject_whatever_its_email(backend):
    dana = make_person("dana", email="dana@example.com")
    SSOLink.objects.create(user=dana, issuer=ISSUER, subject="00u1abcd")
    user = sign_in_by_sso(backend, email="renamed@elsewhere.test", email_verified=False)
    assert user == dana
    assert SSOLink.objects.count() == 1


def test_the_same_subject_at_another_issuer_is_someone_else(backend):
    dana = make_person("dana", email="dana@example.com")
    SSOLink.objects.create(user=dana, issuer=OTHER_ISSUER, subject="00u1abcd")
    with pytest.raises(SuspiciousOperation):
        sign_in_by_sso(backend, iss=OTHER_ISSUER)
    assert list(backend.filter_users_by_claims(claims(email="nobody@example.com"))) == []


def test_a_first_sign_in_with_a_verified_email_links_the_one_matching_person(backend):
    dana = make_person("dana", email="Dana@Example.com")
    user = sign_in_by_sso(backend)
    assert user == dana
    link = SSOLink.objects.get()
    assert (link.user, link.issuer, link.subject) == (dana, ISSUER, "00u1abcd")
    entry = AuditEntry.objects.get(action="auth.sso.link")
    assert entry.actor_id == dana.pk
    assert entry.changes == {"issuer": ISSUER, "subject": "00u1abcd", "matched_by": "verified_email"}
    assert str(entry.ip_address) == "198.51.100.4"


@pytest.mark.parametrize("verified", [False, "false", None, "yes", 1])
def test_an_unverified_email_links_nobody_and_creates_nobody(backend, verified, settings):
    settings.OIDC_CREATE_USER = True
    make_person("dana", email="dana@example.com")
    assert list(backend.filter_users_by_claims(claims(email_verified=verified))) == []
    assert sign_in_by_sso(backend, email_verified=verified) is None
    assert not SSOLink.objects.exists()
    assert User.objects.count() == 1


def test_the_string_true_counts_as_verified(backend):
    dana = make_person("dana", email="dana@example.com")
    assert sign_in_by_sso(backend, email_verified="true") == dana


def test_an_email_shared_by_two_persons_links_neither(backend):
    make_person("dana", email="dana@example.com")
    make_person("dana2", email="DANA@example.com")
    assert sign_in_by_sso(backend) is None
    assert not SSOLink.objects.exists()


@pytest.mark.parametrize("how", ["inactive", "disabled", "departed"])
def test_a_person_who_may_not_sign_in_is_not_linked(backend, how):
    dana = make_person("dana", email="dana@example.com")
    if how == "inactive":
        User.objects.filter(pk=dana.pk).update(is_active=False)
    else:
        Profile.objects.filter(user=dana).update(status=PersonStatus(how))
    assert sign_in_by_sso(backend) is None
    assert not SSOLink.objects.exists()


def test_a_linked_person_who_was_disabled_is_refused_and_no_new_account_is_made(backend, settings):
    settings.OIDC_CREATE_USER = True
    dana = make_person("dana", email="dana@example.com")
    SSOLink.objects.create(user=dana, issuer=ISSUER, subject="00u1abcd")
    Profile.objects.filter(user=dana).update(status=PersonStatus.DISABLED)
    assert sign_in_by_sso(backend) is None
    assert User.objects.count() == 1


def test_a_person_already_linked_to_another_account_of_the_issuer_is_not_linked_again_by_email(backend):
    dana = make_person("dana", email="dana@example.com")
    SSOLink.objects.create(user=dana, issuer=ISSUER, subject="00u-original")
    assert sign_in_by_sso(backend, sub="00u-impostor") is None
    assert list(SSOLink.objects.values_list("subject", flat=True)) == ["00u-original"]


def test_a_token_without_a_subject_is_refused(backend):
    assert not backend.verify_claims(claims(sub=""))
    with pytest.raises(SuspiciousOperation):
        sign_in_by_sso(backend, sub="  ")


# --- Creating persons ---------------------------------------------------------------------------------


def test_without_create_users_an_unknown_account_is_refused(backend):
    assert sign_in_by_sso(backend, email="new@example.com") is None
    assert not User.objects.exists()


def test_a_person_created_through_sso_gets_no_role_and_no_password(backend, settings):
    settings.OIDC_CREATE_USER = True
    user = sign_in_by_sso(
        backend, email="new@example.com", preferred_username="new.person", given_name="New", family_name="Person"
    )
    assert user.username == "new.person" and user.email == "new@example.com"
    assert (user.first_name, user.last_name) == ("New", "Person")
    assert not user.groups.exists()
    assert not user.has_usable_password()
    assert SSOLink.objects.get(user=user).subject == "00u1abcd"
    entry = AuditEntry.objects.get(action="person.create")
    assert entry.actor_label == f"sso:{ISSUER}" and entry.changes["source"] == "sso"


def test_a_created_person_gets_a_free_username(backend, settings):
    settings.OIDC_CREATE_USER = True
    make_person("new.person", email="someone-else@example.com")
    user = sign_in_by_sso(backend, email="new@example.com", preferred_username="new.person")
    assert user.username == "new"


def test_an_unverified_email_is_not_stored_on_a_created_person(backend, settings):
    settings.OIDC_CREATE_USER = True
    user = sign_in_by_sso(backend, email="claimed@example.com", email_verified=False, preferred_username="x")
    assert user.email == ""


# --- Multi-factor assertion and the second factor ------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"amr": ["pwd", "mfa"]}, True),
        ({"amr": ["pwd"], "acr": "urn:okta:loa:2fa:any"}, True),
        ({"amr": ["pwd"]}, False),
        ({"amr": ["pwd"], "acr": "urn:okta:loa:1fa:any"}, False),
        ({"amr": "mfa"}, True),
        ({}, False),
    ],
)
def test_mfa_is_asserted_by_amr_mfa_or_a_configured_acr(oidc, values, expected):
    token_claims = {k: v for k, v in claims().items() if k != "amr"} | values
    assert asserts_mfa(token_claims) is expected


def test_an_administrator_whose_provider_asserted_mfa_is_not_asked_again(backend, client):
    admin = make_person("dana", Role.ADMINISTRATOR, email="dana@example.com")
    user = sign_in_by_sso(backend, amr=["pwd", "mfa"])
    assert user == admin and user.agentiam_idp_mfa is True
    client.force_login(user, backend="identities.signin.oidc.SSOBackend")
    assert client.get("/").status_code == 200
    assert AuditEntry.objects.get(action="auth.login").changes == {"method": "sso", "mfa_asserted_by_idp": True}


def test_an_administrator_whose_provider_did_not_assert_mfa_still_owes_the_second_factor(backend, client):
    make_person("dana", Role.ADMINISTRATOR, email="dana@example.com")
    user = sign_in_by_sso(backend, amr=["pwd"])
    client.force_login(user, backend="identities.signin.oidc.SSOBackend")
    response = client.get("/")
    assert response.status_code == 302 and response["Location"].startswith(reverse("second_factor_enrol"))


# --- The ID token ---------------------------------------------------------------------------------------


def id_token(key, algorithm: str = "RS256", **values) -> str:
    now = int(time.time())
    payload = {"iss": ISSUER, "sub": "00u1abcd", "aud": CLIENT_ID, "iat": now, "exp": now + 300, "nonce": "n"}
    return jwt.encode({**payload, **values}, key, algorithm=algorithm, headers={"kid": "k1"})


@pytest.fixture(scope="module")
def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def test_a_well_formed_id_token_is_accepted(backend, rsa_key):
    payload = backend._verify_jws(id_token(rsa_key), rsa_key.public_key())
    assert payload["sub"] == "00u1abcd"


@pytest.mark.parametrize(
    "values",
    [{"aud": "someone-else"}, {"iss": OTHER_ISSUER}, {"exp": int(time.time()) - 3600}],
    ids=["audience", "issuer", "expired"],
)
def test_an_id_token_for_another_audience_issuer_or_time_is_refused(backend, rsa_key, values):
    with pytest.raises(SuspiciousOperation):
        backend._verify_jws(id_token(rsa_key, **values), rsa_key.public_key())


def test_an_id_token_without_an_expiry_is_refused(backend, rsa_key):
    now = int(time.time())
    token = jwt.encode({"iss": ISSUER, "sub": "s", "aud": CLIENT_ID, "iat": now}, rsa_key, algorithm="RS256")
    with pytest.raises(SuspiciousOperation):
        backend._verify_jws(token, rsa_key.public_key())


def test_an_id_token_signed_with_another_algorithm_is_refused(backend, rsa_key):
    forged = id_token("client-secret-used-as-an-hmac-key-0123456789", algorithm="HS256")
    with pytest.raises(SuspiciousOperation):
        backend._verify_jws(forged, rsa_key.public_key())


def test_es256_is_supported(oidc):
    oidc.OIDC_RP_SIGN_ALGO = "ES256"
    key = ec.generate_private_key(ec.SECP256R1())
    payload = SSOBackend()._verify_jws(id_token(key, algorithm="ES256"), key.public_key())
    assert payload["iss"] == ISSUER


def test_a_password_sign_in_never_reaches_the_provider(backend):
    request = RequestFactory().post("/accounts/login/?code=x&state=y")
    assert backend.authenticate(request, username="dana", password="whatever") is None


def test_an_inactive_persons_session_is_not_restored_by_the_sso_backend(backend):
    dana = make_person("dana")
    assert backend.get_user(dana.pk) == dana
    User.objects.filter(pk=dana.pk).update(is_active=False)
    assert backend.get_user(dana.pk) is None


# --- Pages ----------------------------------------------------------------------------------------------


def test_without_an_issuer_there_is_no_sso_button_and_its_pages_are_404(client):
    assert b"Continue with" not in client.get(reverse("login")).content
    assert client.get(reverse("oidc_authentication_init")).status_code == 404
    assert client.get(reverse("oidc_authentication_callback")).status_code == 404


def test_with_an_issuer_the_login_page_offers_sso_and_starts_a_pkce_flow(oidc, client):
    assert b"Continue with Okta" in client.get(reverse("login")).content
    response = client.get(reverse("oidc_authentication_init") + "?next=/people/")
    assert response.status_code == 302
    target = urlsplit(response["Location"])
    assert f"{target.scheme}://{target.netloc}{target.path}" == f"{ISSUER}/v1/authorize"
    query = parse_qs(target.query)
    assert query["client_id"] == [CLIENT_ID] and query["scope"] == ["openid email profile"]
    assert query["code_challenge_method"] == ["S256"] and query["nonce"][0]


def test_a_failed_sso_callback_lands_on_the_login_page_with_a_message(oidc, client):
    response = client.get(reverse("oidc_authentication_callback") + "?error=access_denied&state=x")
    assert response.status_code == 302 and response["Location"] == "/accounts/login/?sso=failed"
    assert b"Single sign-on did not sign you in" in client.get(response["Location"]).content
