"""Personal API tokens: how their secrets look, the keyed hash that is all the database keeps, and the DRF
authentication by `Authorization: Bearer aiam_…`.

A token is `aiam_<prefix>_<secret>`. The prefix (12 hex characters) is not secret: it finds the row and
lets people recognise a token in lists. The stored digest is HMAC-SHA256 of the whole token under a key
derived from SECRET_KEY — a fast keyed hash, not a password hash, because it is checked on every API
request and the secret already has 256 bits of entropy. Rotating SECRET_KEY keeps tokens working while
the old key is listed in SECRET_KEY_FALLBACKS. The gateway credentials of the runtime reuse the same
helpers (`identities.runtime.credentials`).

A token acts with its person's roles, and only while it is unexpired, unrevoked and its person active;
every one of those is checked on each request, so disabling a person stops their tokens at once.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from django.utils.crypto import salted_hmac
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed

from identities.models import ApiToken, PersonStatus

TOKEN_PREFIX = "aiam"  # noqa: S105 - the public marker of our tokens
_KEY_SALT = "agentiam.identities.api-token"


@dataclass(frozen=True)
class NewSecret:
    token: str
    prefix: str
    digest: str


def token_digest(token: str, *, secret: str | None = None) -> str:
    return salted_hmac(_KEY_SALT, token, secret=secret, algorithm="sha256").hexdigest()


def new_secret() -> NewSecret:
    prefix = secrets.token_hex(6)
    token = f"{TOKEN_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    return NewSecret(token=token, prefix=prefix, digest=token_digest(token))


def split_token(token: str) -> str | None:
    """The lookup prefix of a well-formed token, or None."""
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX or len(parts[1]) != 12 or len(parts[2]) < 32:
        return None
    return parts[1]


def digest_matches(token: str, digest: str) -> bool:
    for key in (settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])):
        if hmac.compare_digest(token_digest(token, secret=key), digest):
            return True
    return False


# --- authentication ----------------------------------------------------------------------------------------

INVALID_TOKEN = "The API token is invalid, expired or revoked."  # noqa: S105 - a message
MALFORMED_HEADER = "The Authorization header must be 'Bearer <token>'."
# last_used_at is advisory; writing it at most once a minute keeps a token's requests read-only.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def token_user(raw: str):
    """(user, token) for a usable token, or None. One query."""
    prefix = split_token(raw)
    if prefix is None:
        return None
    token = (
        ApiToken.objects.usable().select_related("user__profile").filter(prefix=prefix, user__is_active=True).first()
    )
    if token is None or not digest_matches(raw, token.digest):
        return None
    profile = getattr(token.user, "profile", None)
    if profile is not None and profile.status != PersonStatus.ACTIVE:
        return None
    return token.user, token


def note_use(token: ApiToken) -> None:
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        # Conditional UPDATE: concurrent requests of the same token write once between them.
        ApiToken.objects.filter(pk=token.pk).exclude(last_used_at__gt=now - LAST_USED_RESOLUTION).update(
            last_used_at=now
        )
        token.last_used_at = now


class ApiTokenAuthentication(BaseAuthentication):
    keyword = b"bearer"

    def authenticate(self, request):
        header = get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword:
            return None
        if len(header) != 2:
            raise AuthenticationFailed(MALFORMED_HEADER)
        try:
            raw = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise AuthenticationFailed(MALFORMED_HEADER) from None
        found = token_user(raw)
        if found is None:
            raise AuthenticationFailed(INVALID_TOKEN)
        user, token = found
        note_use(token)
        # The audit trail tells actions taken through a token apart from ones in a browser.
        user.audit_actor_kind = "api_token"
        return user, token

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="api"'


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = ApiTokenAuthentication
    name = "apiToken"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "A personal API token (aiam_…)."}
