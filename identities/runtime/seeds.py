"""Demo data of the runtime: the reference client's gateway and assertion key (the token signing key comes
from `migrate` and `prepare_run`, audit.services.signing_key_ensure)."""

from __future__ import annotations

ORDER = 90  # after the registry


def demo(out=None) -> list[str]:
    from identities.runtime.demo_client_seed import seed as seed_reference_client

    return seed_reference_client()
