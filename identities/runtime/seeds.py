"""Demo data of the runtime: the token signing key exists from the first start (so the JWKS is never empty)."""

from __future__ import annotations

from audit.keys import active_key
from audit.models import SigningKey

ORDER = 90  # after the registry


def demo(out=None) -> list[str]:
    from identities.runtime.demo_client_seed import seed as seed_reference_client

    active_key(SigningKey.Purpose.TOKEN)
    return seed_reference_client()
