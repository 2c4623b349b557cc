"""Demo data of the runtime: the reference client's gateway and assertion key (`reference_client`; the token
signing key comes from `migrate` and `prepare_run`, audit.services.signing_key_ensure)."""

from __future__ import annotations

from . import reference_client

__all__ = ["ORDER", "demo"]

ORDER = 90  # after the registry


def demo(out=None) -> list[str]:
    return reference_client.seed()
