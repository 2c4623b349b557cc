"""Who is sending events: an ingest key (`aiamik_<prefix>_<secret>`, a keyed hash in the database like API
tokens) or one of AgentIAM's own access tokens (a task token), from `Authorization: Bearer …`.

A task token speaks for its identity only; an ingest key for the identities in its scope. Each is checked on
every request against the clock and the database (revoked or expired: refused).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime

from django.db import connection

from audit.events.models import IngestKey
from identities.api_tokens import NewSecret, digest_matches, token_digest
from identities.runtime import access_tokens
from identities.runtime.lookups import at, lookup

KEY_PREFIX = "aiamik"
_PREFIX_LENGTH = 12

ERR_MISSING = "Send an ingest key or the identity's access token as 'Authorization: Bearer <credential>'."
ERR_INVALID = "The credential is invalid, expired or revoked."


@dataclass(frozen=True)
class Token:
    """A verified task token: whose it is and its task."""

    jti: str
    identity_id: int
    task_id: int | None


@dataclass
class Caller:
    """The sender: an ingest key (`key`) or a task token (`token`)."""

    key: IngestKey | None = None
    token: Token | None = None
    scope_ids: frozenset[int] = field(default_factory=frozenset)  # identities a scoped key may write for
    all_identities: bool = False

    def may_write_for(self, identity_id: int) -> bool:
        if self.token is not None:
            return identity_id == self.token.identity_id
        return self.all_identities or identity_id in self.scope_ids

    @property
    def label(self) -> str:
        return f"ingest key {self.key.name}" if self.key else f"access token {self.token.jti}"


class Unauthenticated(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def new_key() -> NewSecret:
    prefix = secrets.token_hex(_PREFIX_LENGTH // 2)
    key = f"{KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    return NewSecret(token=key, prefix=prefix, digest=token_digest(key))


def _key_prefix(credential: str) -> str | None:
    parts = credential.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX or len(parts[1]) != _PREFIX_LENGTH or len(parts[2]) < 32:
        return None
    return parts[1]


def bearer(header: str | None) -> str:
    scheme, _, value = (header or "").partition(" ")
    value = value.strip()
    if scheme.lower() != "bearer" or not value or " " in value:
        raise Unauthenticated(ERR_MISSING)
    return value


def verify_tokens(raw: list[str], now: datetime) -> dict[str, Token | None]:
    """Each distinct access token → its verified identity and task, or None (invalid, revoked, expired). One
    lookup for all of them."""
    parsed = {}
    for token in set(raw):
        try:
            parsed[token] = access_tokens.parse(token)
        except access_tokens.InvalidAccessToken:
            parsed[token] = None
    jtis = sorted({p.jti for p in parsed.values() if p is not None})
    rows = lookup(prefix="", jtis=jtis, tools=[], now=now).tokens if jtis else {}
    out: dict[str, Token | None] = {}
    for token, p in parsed.items():
        row = rows.get(p.jti) if p is not None else None
        if (
            row is None
            or row["kid"] != p.kid
            or not access_tokens.signature_valid(p, row["public_key"])
            or row["revoked"]
            or row["key_status"] == "compromised"
            or now >= at(row["exp"])
        ):
            out[token] = None
        else:
            out[token] = Token(jti=p.jti, identity_id=row["identity_id"], task_id=row["task_id"])
    return out


def _key_scope(key: IngestKey) -> frozenset[int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT identity_id FROM audit_events_ingestkey_identities WHERE ingestkey_id = %s "
            "UNION SELECT identity_id FROM identities_identifier WHERE kind = 'service_name' AND value = ANY(%s)",
            [key.pk, list(key.service_names)],
        )
        return frozenset(row[0] for row in cursor.fetchall())


def authenticate(header: str | None, now: datetime) -> Caller:
    credential = bearer(header)
    prefix = _key_prefix(credential)
    if prefix is not None:
        key = IngestKey.objects.live().filter(prefix=prefix).first()
        if key is None or not digest_matches(credential, key.digest):
            raise Unauthenticated(ERR_INVALID)
        return Caller(key=key, all_identities=key.all_identities, scope_ids=_key_scope(key))
    if credential.count(".") == 2:
        token = verify_tokens([credential], now)[credential]
        if token is not None:
            return Caller(token=token)
    raise Unauthenticated(ERR_INVALID)
