"""Signing keys: RFC 7638 ids, private halves sealed under the KEK, rotation by command, all audited."""

import base64
import os

import jwt
import pytest
from cryptography.exceptions import InvalidSignature
from django.core.management import CommandError, call_command
from django.core.management.sql import emit_post_migrate_signal
from django.db import IntegrityError, ProgrammingError, transaction

from audit import keys
from audit.keys import Purpose, SigningKeyError, Status, active_key, jwks, public_jwk, sign, thumbprint, verify
from audit.models import AuditEntry, SigningKey
from audit.services import NO_ACTIVE_KEY_TO_COMPROMISE, ensure_signing_keys_after_migrate, signing_key_ensure
from tests.support import run_manage

pytestmark = pytest.mark.django_db


def test_the_key_id_is_the_rfc_7638_thumbprint_of_the_public_key(signing_keys):
    # The Ed25519 example of RFC 8037, appendix A.3.
    assert thumbprint("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo") == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
    key = active_key(Purpose.EVIDENCE)
    assert key.kid == thumbprint(key.public_key) == thumbprint(public_jwk(key)["x"])


def test_reading_never_creates_a_key_and_ensuring_creates_one_audited_key_per_missing_purpose():
    with pytest.raises(SigningKeyError, match="no active token signing key"):
        active_key(Purpose.TOKEN)
    assert not SigningKey.objects.exists() and not AuditEntry.objects.exists()
    created = signing_key_ensure()
    assert sorted(key.purpose for key in created) == sorted(Purpose.values)
    token_key = active_key(Purpose.TOKEN)
    assert active_key(Purpose.TOKEN) == token_key != active_key(Purpose.AUDIT_CHECKPOINT)
    assert token_key.status == Status.ACTIVE and token_key.purpose == "token"
    entries = AuditEntry.objects.filter(action="signing_key.create").order_by("id")
    assert [(e.object_id, e.changes["purpose"]) for e in entries] == [(k.kid, k.purpose) for k in created]
    assert signing_key_ensure() == [] and entries.count() == len(Purpose.values)  # existing keys stay


def test_migrate_creates_the_missing_keys_on_the_apps_connection_outside_the_test_profile(settings):
    emit_post_migrate_signal(verbosity=0, interactive=False, db="default")  # what every `migrate` ends with
    assert not SigningKey.objects.exists()  # the test profile: keys come from the signing_keys fixture
    settings.AUDIT_SIGNING_KEYS_AT_MIGRATE = True
    ensure_signing_keys_after_migrate(sender=None, using="owner")
    assert not SigningKey.objects.exists()  # the owner migrates before the app role has its grants
    emit_post_migrate_signal(verbosity=0, interactive=False, db="default")
    assert sorted(SigningKey.objects.values_list("purpose", flat=True)) == sorted(Purpose.values)


def test_the_ensure_command_names_the_keys_it_created():
    out = _call("ensure_signing_keys")
    keys_now = {key.purpose: key.kid for key in SigningKey.objects.all()}
    assert sorted(out.splitlines()) == sorted(f"New active {p} key: {kid}" for p, kid in keys_now.items())
    assert _call("ensure_signing_keys") == ""
    entry = AuditEntry.objects.filter(action="signing_key.create").first()
    assert entry.actor_label.startswith("manage.py ensure_signing_keys")


def test_there_is_never_more_than_one_active_key_per_purpose(signing_keys):
    key = active_key(Purpose.TOKEN)
    with pytest.raises(IntegrityError), transaction.atomic():
        SigningKey.objects.create(**keys.new_key_material(Purpose.TOKEN))
    assert SigningKey.objects.filter(purpose="token", status="active").get() == key


def test_an_unknown_purpose_is_refused():
    with pytest.raises(SigningKeyError, match="Unknown signing key purpose 'session'"):
        active_key("session")
    with pytest.raises(CommandError, match="invalid choice: 'session'"):
        call_command("rotate_signing_key", "session")


def test_the_private_half_is_stored_only_encrypted_under_the_kek(settings, signing_keys):
    key = active_key(Purpose.TOKEN)
    seed = keys.private_key(key).private_bytes_raw()
    stored = bytes(SigningKey.objects.get(pk=key.pk).private_key_encrypted)
    assert seed not in stored and len(stored) == 12 + 32 + 16  # nonce, ciphertext, GCM tag
    assert key.kek_id == keys.kek_id()

    settings.AGENTIAM_KEY_ENCRYPTION_KEY = os.urandom(32)
    with pytest.raises(SigningKeyError, match="sealed under another key-encryption key"):
        keys.private_key(key)


def test_a_sealed_private_half_does_not_open_on_another_keys_row(signing_keys):
    token_key, evidence_key = active_key(Purpose.TOKEN), active_key(Purpose.EVIDENCE)
    evidence_key.private_key_encrypted = token_key.private_key_encrypted  # not saved: the check is cryptographic
    with pytest.raises(SigningKeyError, match="sealed under another"):
        keys.private_key(evidence_key)


def test_signatures_verify_only_with_their_key_message_and_purpose(signing_keys):
    kid, signature = sign(Purpose.EVIDENCE, b"manifest")
    assert verify(kid, b"manifest", signature, purpose=Purpose.EVIDENCE).kid == kid
    with pytest.raises(InvalidSignature):
        verify(kid, b"manifest, edited", signature, purpose=Purpose.EVIDENCE)
    with pytest.raises(SigningKeyError, match="signs for evidence, not for token"):
        verify(kid, b"manifest", signature, purpose=Purpose.TOKEN)
    with pytest.raises(SigningKeyError, match="No signing key has the id"):
        verify("no-such-kid", b"manifest", signature, purpose=Purpose.EVIDENCE)


def test_the_public_jwk_verifies_an_eddsa_token_signed_with_the_private_half(signing_keys):
    key = active_key(Purpose.TOKEN)
    token = jwt.encode({"sub": "agent"}, keys.private_key(key), algorithm="EdDSA", headers={"kid": key.kid})
    jwk = jwks(Purpose.TOKEN)["keys"][0]
    assert jwk == {"kty": "OKP", "crv": "Ed25519", "x": key.public_key, "kid": key.kid, "alg": "EdDSA", "use": "sig"}
    assert jwt.decode(token, jwt.PyJWK(jwk).key, algorithms=["EdDSA"]) == {"sub": "agent"}


def test_rotation_installs_a_new_key_retires_the_old_one_and_is_audited(signing_keys):
    old = active_key(Purpose.AUDIT_CHECKPOINT)
    kid, signature = sign(Purpose.AUDIT_CHECKPOINT, b"checkpoint 1")
    out = _call("rotate_signing_key", "audit_checkpoint")

    old.refresh_from_db()
    new = active_key(Purpose.AUDIT_CHECKPOINT)
    assert out == f"New active audit_checkpoint key: {new.kid}\n"
    assert new != old and old.status == Status.RETIRED and old.retired_at is not None
    assert old.private_key_encrypted is None  # a retired key never signs again
    with pytest.raises(SigningKeyError, match="is retired: it no longer signs"):
        keys.private_key(old)
    # What the retired key signed stays verifiable, and both keys are published.
    assert verify(kid, b"checkpoint 1", signature, purpose=Purpose.AUDIT_CHECKPOINT) == old
    assert {k["kid"] for k in jwks(Purpose.AUDIT_CHECKPOINT)["keys"]} == {old.kid, new.kid}
    entry = AuditEntry.objects.filter(action="signing_key.rotate").get()
    assert entry.object_id == new.kid and entry.actor_kind == "job"
    assert entry.actor_label.startswith("manage.py rotate_signing_key")
    assert entry.changes == {
        "purpose": "audit_checkpoint",
        "kid": new.kid,
        "previous_kid": old.kid,
        "previous_status": "retired",
    }


def test_rotation_after_a_leak_marks_the_old_key_compromised(signing_keys):
    old = active_key(Purpose.TOKEN)
    kid, signature = sign(Purpose.TOKEN, b"token")
    _call("rotate_signing_key", "token", "--compromised")

    old.refresh_from_db()
    assert old.status == Status.COMPROMISED
    with pytest.raises(SigningKeyError, match="is marked compromised"):
        verify(kid, b"token", signature, purpose=Purpose.TOKEN)
    assert verify(kid, b"token", signature, purpose=Purpose.TOKEN, allow_compromised=True) == old
    assert old.kid not in {k["kid"] for k in jwks(Purpose.TOKEN)["keys"]}
    entry = AuditEntry.objects.filter(action="signing_key.rotate").get()
    assert entry.changes["previous_kid"] == old.kid and entry.changes["previous_status"] == "compromised"


def test_marking_a_key_compromised_needs_an_active_key():
    with pytest.raises(CommandError, match=NO_ACTIVE_KEY_TO_COMPROMISE.format(purpose="evidence")):
        call_command("rotate_signing_key", "evidence", "--compromised")
    assert not SigningKey.objects.exists() and not AuditEntry.objects.exists()


# pgtrigger's messages, or the plain trigger's (audit.hardening), which fires first.
DELETE_REFUSED = r"Cannot delete rows|never deleted"
UPDATE_REFUSED = r"Cannot update rows|never change|only moves forward"


def test_the_database_keeps_keys_forever_and_their_status_moving_forward_only(signing_keys):
    key = active_key(Purpose.EVIDENCE)
    with pytest.raises(ProgrammingError, match=DELETE_REFUSED), transaction.atomic():
        SigningKey.objects.filter(pk=key.pk).delete()
    with pytest.raises(ProgrammingError, match=UPDATE_REFUSED), transaction.atomic():
        SigningKey.objects.filter(pk=key.pk).update(public_key=keys.new_key_material("evidence")["public_key"])
    _call("rotate_signing_key", "evidence")
    with pytest.raises(ProgrammingError, match=UPDATE_REFUSED), transaction.atomic():
        SigningKey.objects.filter(pk=key.pk).update(status="active")
    SigningKey.objects.filter(pk=key.pk).update(status="compromised")  # found leaked after retirement: allowed
    with pytest.raises(ProgrammingError, match=UPDATE_REFUSED), transaction.atomic():
        SigningKey.objects.filter(pk=key.pk).update(status="retired")


def _call(*args) -> str:
    from io import StringIO

    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


# --- The key-encryption key in each profile ---------------------------------------------------------------


def _manage(*args, **env):
    return run_manage(*args, env=env, without=("DJANGO_", "AGENTIAM_", "DATABASE_"))


PRINT_KEK = "from django.conf import settings as s; print(s.AGENTIAM_KEY_ENCRYPTION_KEY.hex())"


def test_production_refuses_to_start_without_a_key_encryption_key():
    from tests.platform.test_settings import PRODUCTION_ENV

    env = {k: v for k, v in PRODUCTION_ENV.items() if k != "AGENTIAM_KEK"}
    result = _manage("check", **env)
    assert result.returncode != 0 and "AGENTIAM_KEK must be set" in result.stderr


@pytest.mark.parametrize("bad", ["c2hvcnQ", "not base64 at all!", base64.urlsafe_b64encode(os.urandom(33)).decode()])
def test_a_key_encryption_key_that_is_not_32_bytes_is_refused(bad):
    result = _manage("check", AGENTIAM_PROFILE="test", AGENTIAM_KEK=bad)
    assert result.returncode != 0
    assert "AGENTIAM_KEK must be urlsafe base64 of exactly 32 bytes" in result.stderr


def test_the_local_profile_generates_its_kek_once_readable_by_its_owner_only(tmp_path):
    env = {"AGENTIAM_PROFILE": "local", "AGENTIAM_VAR_DIR": str(tmp_path)}
    first = _manage("shell", "-v", "0", "-c", PRINT_KEK, **env)
    second = _manage("shell", "-v", "0", "-c", PRINT_KEK, **env)
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout and len(bytes.fromhex(first.stdout.strip())) == 32
    assert (tmp_path / "kek").stat().st_mode & 0o777 == 0o600
    text = (tmp_path / "kek").read_text().strip()
    assert base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).hex() == first.stdout.strip()
