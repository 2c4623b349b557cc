"""Personal API tokens: shown once, stored as a keyed hash, expiring, revocable, and stopped with their person."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone
from playwright.sync_api import expect

from audit.models import AuditEntry
from identities import services
from identities.api_tokens import INVALID_TOKEN, token_digest
from identities.models import ApiToken, PersonStatus
from tests.cast import EVERYONE, check_access, make_person
from tests.support import sign_in

SHOTS = Path(__file__).resolve().parents[2] / "test-results" / "screenshots"

pytestmark = pytest.mark.django_db


def bearer(token: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def test_a_token_is_stored_only_as_a_keyed_hash_with_a_visible_prefix(cast):
    token, secret = services.api_token_create(actor=cast.auditor, name="ci")
    row = ApiToken.objects.get(pk=token.pk)
    assert secret.startswith(f"aiam_{row.prefix}_")
    assert secret not in (row.digest, row.prefix, row.name)
    assert row.digest == token_digest(secret)
    # Keyed: a plain hash of the token, which anyone with a database dump could compute, does not match.
    assert row.digest != hashlib.sha256(secret.encode()).hexdigest()
    assert AuditEntry.objects.filter(action="api_token.create", object_id=str(row.uuid)).exists()
    assert secret not in str(AuditEntry.objects.get(action="api_token.create").changes)


def test_a_token_acts_with_its_persons_roles(cast):
    _, secret = services.api_token_create(actor=cast.auditor, name="ci")
    assert Client().get("/api/v1/people/", **bearer(secret)).status_code == 200
    _, outsider_secret = services.api_token_create(actor=cast.outsider, name="ci")
    assert Client().get("/api/v1/people/", **bearer(outsider_secret)).status_code == 403
    me = Client().get("/api/v1/me/", **bearer(outsider_secret))
    assert me.status_code == 200 and me.json()["username"] == "cast-outsider"


def test_anonymous_api_calls_get_401_with_a_bearer_challenge(db):
    response = Client().get("/api/v1/people/")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "header",
    ["Bearer aiam_000000000000_" + "x" * 43, "Bearer not-a-token", "Bearer", "Bearer a b"],
)
def test_a_wrong_or_malformed_token_gets_401(db, header):
    response = Client().get("/api/v1/me/", HTTP_AUTHORIZATION=header)
    assert response.status_code == 401


def test_a_token_with_the_right_prefix_but_wrong_secret_is_refused(cast):
    token, _ = services.api_token_create(actor=cast.auditor, name="ci")
    forged = f"aiam_{token.prefix}_" + "A" * 43
    response = Client().get("/api/v1/me/", **bearer(forged))
    assert response.status_code == 401
    assert INVALID_TOKEN in response.content.decode()


def test_an_expired_token_is_refused(cast):
    token, secret = services.api_token_create(actor=cast.auditor, name="ci", expires_in_days=1)
    ApiToken.objects.filter(pk=token.pk).update(
        created_at=timezone.now() - timedelta(days=3), expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert Client().get("/api/v1/me/", **bearer(secret)).status_code == 401


def test_a_revoked_token_stops_at_once(cast):
    token, secret = services.api_token_create(actor=cast.auditor, name="ci")
    client = Client()
    assert client.get("/api/v1/me/", **bearer(secret)).status_code == 200
    services.api_token_revoke(actor=cast.auditor, token=token)
    assert client.get("/api/v1/me/", **bearer(secret)).status_code == 401
    assert AuditEntry.objects.filter(action="api_token.revoke", object_id=str(token.uuid)).exists()


def test_a_disabled_persons_token_stops_at_once(cast):
    _, secret = services.api_token_create(actor=cast.security_analyst, name="soar")
    client = Client()
    assert client.get("/api/v1/people/", **bearer(secret)).status_code == 200
    services.person_disable(actor=cast.administrator, profile=cast.security_analyst.profile, reason="laptop stolen")
    assert client.get("/api/v1/people/", **bearer(secret)).status_code == 401
    assert ApiToken.objects.get(user=cast.security_analyst).revoked_at is not None


def test_a_token_of_a_disabled_person_stays_refused_even_if_its_row_was_missed(cast):
    """Defence in depth: the person's status is checked on every request, not only the token row."""
    _, secret = services.api_token_create(actor=cast.auditor, name="ci")
    type(cast.auditor.profile).objects.filter(user=cast.auditor).update(status=PersonStatus.DEPARTED)
    assert Client().get("/api/v1/me/", **bearer(secret)).status_code == 401


def test_last_use_is_written_at_most_once_a_minute(cast, django_assert_num_queries):
    token, secret = services.api_token_create(actor=cast.auditor, name="ci")
    client = Client()
    client.get("/api/v1/me/", **bearer(secret))
    first = ApiToken.objects.get(pk=token.pk).last_used_at
    assert first is not None
    # No write: the token with its person and profile, then /me/'s profile and its groups.
    with django_assert_num_queries(3):
        client.get("/api/v1/me/", **bearer(secret))
    assert ApiToken.objects.get(pk=token.pk).last_used_at == first
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=first - timedelta(minutes=2))
    client.get("/api/v1/me/", **bearer(secret))
    assert ApiToken.objects.get(pk=token.pk).last_used_at > first


def test_expiry_defaults_to_90_days_and_is_capped_at_365(cast):
    token, _ = services.api_token_create(actor=cast.auditor, name="ci")
    assert timedelta(days=89) < token.expires_at - timezone.now() <= timedelta(days=90)
    client = Client()
    from tests.support import sign_in

    sign_in(client, cast.auditor)
    response = client.post("/api/v1/tokens/", {"name": "long", "expires_in_days": 366}, content_type="application/json")
    assert response.status_code == 400
    assert "expires_in_days" in response.content.decode()


def test_the_api_shows_the_secret_once_and_lists_only_own_tokens(cast, client_factory):
    client = client_factory(cast.auditor)
    created = client.post("/api/v1/tokens/", {"name": "laptop", "expires_in_days": 7}, content_type="application/json")
    assert created.status_code == 201
    body = created.json()
    assert body["token"].startswith("aiam_") and body["state"] == "active"
    listed = client.get("/api/v1/tokens/").json()["results"]
    assert [row["id"] for row in listed] == [body["id"]]
    assert "token" not in listed[0] and "digest" not in listed[0]
    assert client_factory(cast.outsider).get(f"/api/v1/tokens/{body['id']}/").status_code == 404
    assert client_factory(cast.outsider).delete(f"/api/v1/tokens/{body['id']}/").status_code == 404
    assert client.delete(f"/api/v1/tokens/{body['id']}/").status_code == 204
    assert client.get(f"/api/v1/tokens/{body['id']}/").json()["state"] == "revoked"


def test_a_token_cannot_mint_another_token(cast):
    _, secret = services.api_token_create(actor=cast.auditor, name="ci")
    response = Client().post("/api/v1/tokens/", {"name": "more"}, content_type="application/json", **bearer(secret))
    assert response.status_code == 403
    assert ApiToken.objects.filter(user=cast.auditor).count() == 1


def test_anyone_signed_in_may_use_their_token_endpoints(cast, client_factory):
    check_access(client_factory, "/api/v1/tokens/", cast=cast, allowed=EVERYONE, expect_allowed=(200,))
    check_access(
        client_factory,
        "/api/v1/tokens/",
        cast=cast,
        allowed=EVERYONE,
        method="post",
        data=lambda who: {"name": f"token of {who}"},
        expect_allowed=(201,),
    )


def test_the_profile_page_creates_a_token_and_shows_it_once(cast, client_factory):
    client = client_factory(cast.outsider)
    response = client.post("/me/tokens/", {"name": "scripts", "expires_in_days": 30})
    assert response.status_code == 200
    token = ApiToken.objects.get(user=cast.outsider)
    page = response.content.decode()
    assert f"aiam_{token.prefix}_" in page and "shown only once" in page
    assert response.headers["Cache-Control"].startswith("max-age=0")
    again = client.get("/me/").content.decode()
    assert "scripts" in again and "shown only once" not in again


def test_the_profile_page_refuses_a_nameless_token_naming_the_field(cast, client_factory):
    response = client_factory(cast.outsider).post("/me/tokens/", {"name": "", "expires_in_days": 30})
    assert response.status_code == 400
    assert "This field is required" in response.content.decode()
    assert not ApiToken.objects.exists()


def test_revoking_from_the_profile_page_asks_first_and_only_finds_own_tokens(cast, client_factory):
    token, secret = services.api_token_create(actor=cast.outsider, name="scripts")
    owner = client_factory(cast.outsider)
    assert "cannot be undone" in owner.get(f"/me/tokens/{token.uuid}/revoke/").content.decode()
    assert client_factory(cast.administrator).post(f"/me/tokens/{token.uuid}/revoke/").status_code == 404
    assert ApiToken.objects.get(pk=token.pk).revoked_at is None
    assert owner.post(f"/me/tokens/{token.uuid}/revoke/").status_code == 302
    assert ApiToken.objects.get(pk=token.pk).revoked_by == cast.outsider
    assert Client().get("/api/v1/me/", **bearer(secret)).status_code == 401


def test_issue_api_token_prints_a_working_token(cast):
    out, err = StringIO(), StringIO()
    call_command("issue_api_token", "cast-auditor", "--expires-in", "5", stdout=out, stderr=err)
    secret = out.getvalue().strip()
    assert Client().get("/api/v1/me/", **bearer(secret)).json()["username"] == "cast-auditor"
    token = ApiToken.objects.get(user=cast.auditor)
    assert timedelta(days=4) < token.expires_at - timezone.now() <= timedelta(days=5)


@pytest.mark.parametrize(
    ("args", "message"), [(["nobody"], "No person"), (["cast-auditor", "--expires-in", "400"], "between 1 and 365")]
)
def test_issue_api_token_refuses_bad_input(cast, args, message):
    with pytest.raises(CommandError, match=message):
        call_command("issue_api_token", *args, stdout=StringIO(), stderr=StringIO())


def test_issue_api_token_refuses_a_disabled_person(cast):
    services.person_disable(actor=cast.administrator, profile=cast.auditor.profile, reason="left")
    with pytest.raises(CommandError, match="not active"):
        call_command("issue_api_token", "cast-auditor", stdout=StringIO(), stderr=StringIO())


def test_changes_made_through_a_token_are_audited_as_api_token_actions(cast):
    token, secret = services.api_token_create(actor=cast.auditor, name="automation")
    response = Client().delete(f"/api/v1/tokens/{token.uuid}/", **bearer(secret))
    assert response.status_code == 204
    entry = AuditEntry.objects.get(action="api_token.revoke")
    assert (entry.actor_id, entry.actor_kind) == (cast.auditor.pk, "api_token")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_person_creates_a_token_sees_it_once_and_revokes_it(live_server, page):
    person = make_person("jonas", first_name="Jonas", last_name="Weber", employee_id="E-2040")
    services.api_token_create(actor=person, name="Nightly export")
    client = Client()
    sign_in(client, person)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    page.context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": live_server.url}])

    page.goto(live_server.url + "/me/")
    expect(page.locator("h1")).to_contain_text("Jonas Weber")
    page.get_by_label("Name").fill("CI pipeline")
    page.get_by_label("Expires in (days)").fill("30")
    page.get_by_role("button", name="Create token").click()
    secret = page.locator("#new-token").input_value()
    assert secret.startswith("aiam_")
    assert Client().get("/api/v1/me/", HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 200
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "profile_token_shown_once.png"), full_page=True)

    page.goto(live_server.url + "/me/")
    expect(page.locator("#new-token")).to_have_count(0)  # shown once, never again
    row = page.locator("tr").filter(has_text="CI pipeline")
    row.get_by_role("link", name="Revoke…").click()
    page.get_by_role("button", name="Revoke token").click()
    expect(page.locator("tr").filter(has_text="CI pipeline")).to_contain_text("Revoked")
    assert Client().get("/api/v1/me/", HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 401
