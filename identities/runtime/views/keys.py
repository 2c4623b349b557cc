"""/.well-known/jwks.json: the public token keys that may still verify a live token."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db.models import Exists, OuterRef, Q
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.http import require_GET
from drf_spectacular.utils import extend_schema

from agentiam.api.schema import lean_endpoint
from agentiam.permissions import public
from audit import keys as signing_keys
from audit.models import SigningKey
from identities.runtime.models import IssuedToken
from identities.runtime.schema import Jwks


def published_token_keys():
    """The active token key, and retired ones while a token they signed may still be unexpired.

    Compromised keys are never published: their tokens are revoked, and a verifier that only reads the JWKS
    must stop accepting them too."""
    now = timezone.now()
    live = IssuedToken.objects.filter(kid=OuterRef("kid"), expires_at__gt=now)
    max_ttl = timedelta(seconds=max(settings.RUNTIME_TOKEN_TTL, settings.RUNTIME_TOKEN_TTL_CRITICAL))
    return (
        SigningKey.objects.filter(purpose=SigningKey.Purpose.TOKEN)
        .filter(
            Q(status=SigningKey.Status.ACTIVE)
            | Q(status=SigningKey.Status.RETIRED) & (Q(Exists(live)) | Q(retired_at__gt=now - max_ttl))
        )
        .order_by("-created_at")
    )


@lean_endpoint(
    get=extend_schema(
        operation_id="jwks",
        summary="Public keys of AgentIAM's access tokens (JWKS)",
        tags=["runtime"],
        responses={200: Jwks},
        description="Verifying only against this key set does not see revocation before expiry: gateways should "
        "ask decide or introspect.",
    )
)
@public
@require_GET
def jwks(request):
    keys = [signing_keys.public_jwk(key) for key in published_token_keys()]
    return JsonResponse({"keys": keys}, headers={"Cache-Control": "public, max-age=60"})
