"""identities' demo and scale data, found by `agentiam.seeding` (`manage.py seed_demo`): `demo(out)` seeds the
demo persons (`people`) and the demo estate (`registry`, its data in `estate`), idempotently; `scale(n, out)`
writes n persons (`people.scale`) and a registry of n identities for benchmarks (`bulk`)."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction

from . import bulk, people, registry

__all__ = ["ORDER", "demo", "scale"]

ORDER = 10


@transaction.atomic
def demo(out) -> list[str]:
    password = settings.AGENTIAM_DEMO_PASSWORD
    logins = people.seed(password)
    return logins + registry.seed(password)


def scale(n: int, out) -> None:
    people.scale(n, out)
    bulk.scale_registry(n, out)  # n identities, 10 entitlements and 2 credentials each, owned by the scale persons
