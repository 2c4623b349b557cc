"""DRF authentication by personal API token: `Authorization: Bearer aiam_…`.

A token acts with its person's roles, and only while it is unexpired, unrevoked and its person active;
every one of those is checked on each request, so disabling a person stops their tokens at once."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed

from identities.models import ApiToken, PersonStatus
from identities.tokens import digest_matches, split_token

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
