"""Writes on signing keys. Each change is audited in the same transaction."""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, transaction
from django.utils import timezone

from audit import actors
from audit.keys import Purpose, Status, check_purpose, new_key_material
from audit.models import SigningKey
from audit.trail import audit_record

NO_ACTIVE_KEY_TO_COMPROMISE = "There is no active {purpose} key to mark compromised."


def _lock_purpose(purpose: str) -> None:
    # Serialises key changes per purpose, so two rotations never race to install two new keys.
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"agentiam-signing-key:{purpose}"])


def _insert(purpose: str) -> SigningKey:
    return SigningKey.objects.create(**new_key_material(purpose))


def signing_key_ensure(*, purposes: Iterable[str] | None = None, actor=None, request=None) -> list[SigningKey]:
    """Create the active key of each purpose (every purpose by default) that has none, each in its own audited
    transaction; returns the keys created. Safe to run concurrently: a key another process created meanwhile
    is left alone. Run by `migrate` (post_migrate, see audit.apps) and `prepare_run`; reading a key never
    creates one."""
    created = []
    for purpose in purposes or Purpose.values:
        key = _create_if_missing(check_purpose(purpose), actor=actor, request=request)
        if key is not None:
            created.append(key)
    return created


@transaction.atomic
def _create_if_missing(purpose: str, *, actor, request) -> SigningKey | None:
    _lock_purpose(purpose)
    if SigningKey.objects.filter(purpose=purpose, status=Status.ACTIVE).exists():
        return None
    key = _insert(purpose)
    _audit_key("signing_key.create", key, actor=actor, request=request)
    return key


def _audit_key(action: str, key: SigningKey, *, actor, request, **changes) -> None:
    audit_record(
        actor=actor,
        action=action,
        object_type="audit.signingkey",
        object_id=key.kid,
        object_label=f"{key.purpose} key {key.kid}",
        changes={"purpose": key.purpose, "kid": key.kid, **changes},
        request=request,
    )


def ensure_signing_keys_after_migrate(sender, using: str = DEFAULT_DB_ALIAS, **kwargs) -> None:
    """post_migrate: the keys exist once the schema does. Only on the app's own connection (the owner's
    `migrate --database owner` runs before the app role has its grants; `prepare_run` or the next
    `migrate` creates them), and not in the test profile, where tests take keys from a fixture."""
    if using == DEFAULT_DB_ALIAS and settings.AUDIT_SIGNING_KEYS_AT_MIGRATE:
        signing_key_ensure(actor=actors.job("manage.py migrate (post_migrate)"))


@transaction.atomic
def signing_key_rotate(*, purpose: str, compromised: bool = False, actor=None, request=None) -> SigningKey:
    """Install a new active key for `purpose`; the old one is retired (or marked compromised) and its
    private half destroyed. Its public half stays, so what it signed still verifies."""
    check_purpose(purpose)
    _lock_purpose(purpose)
    old = SigningKey.objects.filter(purpose=purpose, status=Status.ACTIVE).first()
    if old is None and compromised:
        raise ValueError(NO_ACTIVE_KEY_TO_COMPROMISE.format(purpose=purpose))
    if old is not None:
        old.status = Status.COMPROMISED if compromised else Status.RETIRED
        old.retired_at = timezone.now()
        old.private_key_encrypted = None
        old.save(update_fields=["status", "retired_at", "private_key_encrypted"])
    key = _insert(purpose)
    _audit_key(
        "signing_key.rotate",
        key,
        actor=actor,
        request=request,
        previous_kid=old.kid if old else None,
        previous_status=old.status if old else None,
    )
    return key
