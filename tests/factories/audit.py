"""Audit entries, written through the trail's one writer so the hash chain stays whole."""

from __future__ import annotations

import factory
from django.db import transaction

from audit.trail import audit_record


class AuditEntryFactory(factory.django.DjangoModelFactory):
    """An entry appended by `audit_record` (in its own transaction, as a service's last statement would)."""

    class Meta:
        model = "audit.AuditEntry"

    actor = "system"
    action = factory.Sequence(lambda n: f"test.factory.{n}")
    object_type = "identities.identity"
    object_id = factory.Sequence(lambda n: f"object-{n}")
    object_label = factory.Sequence(lambda n: f"Object {n}")
    changes = factory.LazyFunction(dict)

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        with transaction.atomic():
            return audit_record(**kwargs)
