"""Writes on signing keys. Each change is audited in the same transaction."""

from __future__ import annotations

from django.db import connection, transaction
from django.utils import timezone

from audit.keys import Status, check_purpose, new_key_material
from audit.models import SigningKey
from audit.trail import audit_record

NO_ACTIVE_KEY_TO_COMPROMISE = "There is no active {purpose} key to mark compromised."


def _lock_purpose(purpose: str) -> None:
    # Serialises key changes per purpose, so two rotations never race to install two new keys.
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"agentiam-signing-key:{purpose}"])


def _insert(purpose: str) -> SigningKey:
    return SigningKey.objects.create(**new_key_material(purpose))


@transaction.atomic
def signing_key_create(*, purpose: str, actor=None, request=None) -> SigningKey:
    """The purpose's first key. If another process created one meanwhile, that one is returned."""
    check_purpose(purpose)
    _lock_purpose(purpose)
    existing = SigningKey.objects.filter(purpose=purpose, status=Status.ACTIVE).first()
    if existing is not None:
        return existing
    key = _insert(purpose)
    audit_record(
        actor=actor,
        action="signing_key.create",
        object_type="audit.signingkey",
        object_id=key.kid,
        object_label=f"{purpose} key {key.kid}",
        changes={"purpose": purpose, "kid": key.kid},
        request=request,
    )
    return key


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
    audit_record(
        actor=actor,
        action="signing_key.rotate",
        object_type="audit.signingkey",
        object_id=key.kid,
        object_label=f"{purpose} key {key.kid}",
        changes={
            "purpose": purpose,
            "kid": key.kid,
            "previous_kid": old.kid if old else None,
            "previous_status": old.status if old else None,
        },
        request=request,
    )
    return key
