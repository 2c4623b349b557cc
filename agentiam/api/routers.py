"""The one router of /api/v1/. Apps register their viewsets here from their own `api` module, which
`agentiam.api.urls` imports for every installed app before it reads `router.urls`:

    # identities/api/__init__.py
    from agentiam.api.routers import router
    router.register(prefix, viewset, basename=basename)  # e.g. ("identities", IdentityViewSet, "identity")
"""

from __future__ import annotations

from rest_framework.routers import SimpleRouter

router = SimpleRouter(use_regex_path=False)
