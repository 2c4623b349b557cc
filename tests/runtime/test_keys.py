"""The token keys' JWKS and rotation; a decision on a day whose partition is missing (the partition manager
itself: tests/platform/test_partitions.py)."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.test import Client

from audit.keys import thumbprint
from audit.models import SigningKey
from identities.runtime.models import IssuedToken, PolicyDecision, TokenRevocation
from identities.runtime.partitions import DECISION_LOG
from identities.runtime.tasks import forget_used_assertions
from identities.runtime.trust import DbJtiLedger
from identities.runtime.views import keys as keys_view
from tests.runtime_support import access_token, build_estate, decide

pytestmark = pytest.mark.django_db


def jwks() -> dict:
    response = Client().get("/.well-known/jwks.json")
    assert response.status_code == 200
    assert "max-age" in response["Cache-Control"]
    return response.json()


def test_the_jwks_publishes_the_public_half_of_the_active_token_key_only(signing_keys):
    body = jwks()
    key = SigningKey.objects.get(purpose="token", status="active")  # made by `migrate` (here: the fixture)
    assert body == {
        "keys": [{"kty": "OKP", "crv": "Ed25519", "x": key.public_key, "kid": key.kid, "alg": "EdDSA", "use": "sig"}]
    }
    assert key.kid == thumbprint(key.public_key)
    call_command("rotate_signing_key", "audit_checkpoint")
    assert [k["kid"] for k in jwks()["keys"]] == [key.kid]  # other purposes never appear


def test_a_retired_key_stays_published_while_a_token_it_signed_is_live(cast, monkeypatch):
    estate = build_estate(cast)
    access_token()
    old = SigningKey.objects.get(purpose="token", status="active")
    call_command("rotate_signing_key", "token")
    new = SigningKey.objects.get(purpose="token", status="active")
    assert [k["kid"] for k in jwks()["keys"]] == [new.kid, old.kid]
    # Once its last token has expired and the longest token lifetime has passed since its retirement, it goes.
    later = max(IssuedToken.objects.values_list("expires_at", flat=True)) + timedelta(hours=1)
    monkeypatch.setattr(keys_view.timezone, "now", lambda: later)
    assert [k["kid"] for k in jwks()["keys"]] == [new.kid]
    monkeypatch.undo()
    assert decide(estate.credential, access_token(task="after-rotation")["access_token"]).json()["decision"] == "allow"


def test_a_compromised_key_is_withdrawn_and_every_live_token_it_signed_is_revoked(cast):
    build_estate(cast)
    tokens = [access_token(task=f"t{i}")["access_token"] for i in range(3)]
    old = SigningKey.objects.get(purpose="token", status="active")
    call_command("rotate_signing_key", "token", "--compromised")
    assert old.kid not in [k["kid"] for k in jwks()["keys"]]
    assert TokenRevocation.objects.count() == len(tokens)
    assert set(TokenRevocation.objects.values_list("jti", flat=True)) == set(
        IssuedToken.objects.filter(kid=old.kid).values_list("jti", flat=True)
    )


def test_issued_tokens_and_revocations_are_append_only(cast):
    build_estate(cast)
    access_token()
    for statement in ("UPDATE runtime_issuedtoken SET audience = 'x'", "DELETE FROM runtime_issuedtoken"):
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement)


def test_a_used_assertion_id_is_refused_until_it_is_forgotten_after_expiry():
    ledger = DbJtiLedger()
    past = datetime.now(UTC) - timedelta(minutes=1)
    assert ledger.claim(client_id="c", jti="j", expires_at=past)
    assert not ledger.claim(client_id="c", jti="j", expires_at=past)
    assert ledger.claim(client_id="other", jti="j", expires_at=past)
    assert forget_used_assertions() == 2
    assert ledger.claim(client_id="c", jti="j", expires_at=datetime.now(UTC) + timedelta(minutes=1))


# --- partitions ---------------------------------------------------------------------------------------------


def test_a_decision_on_a_day_without_a_partition_creates_it_instead_of_failing(cast):
    estate = build_estate(cast)
    token = access_token()["access_token"]
    today = datetime.now(UTC).date()
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE {DECISION_LOG.partition_name(today)}")
    assert decide(estate.credential, token).json()["decision"] == "allow"
    assert today in DECISION_LOG.existing()
    assert PolicyDecision.objects.count() == 1
