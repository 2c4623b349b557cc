from io import StringIO

import pytest
from django.core.management import call_command
from django.db import ProgrammingError, transaction

from audit.models import AuditEntry
from audit.trail import GENESIS, AuditError, audit_record, entry_fields, entry_hash
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def record(**kwargs):
    with transaction.atomic():
        return audit_record(**kwargs)


def test_entries_form_a_hash_chain_from_genesis():
    person = UserFactory()
    first = record(actor=person, action="role.grant", object_type="auth.user", object_id="7", changes={"b": 1, "a": 2})
    second = record(actor=None, action="system.tick")
    assert first.prev_hash == GENESIS
    assert second.prev_hash == first.hash
    stored = AuditEntry.objects.get(pk=first.pk)
    assert entry_hash(stored.prev_hash, entry_fields(stored)) == stored.hash  # JSONB key order does not matter
    assert stored.actor_label == person.username and stored.actor_kind == "person"


def test_the_database_refuses_to_update_or_delete_an_entry():
    entry = record(actor=None, action="system.tick")
    with pytest.raises(ProgrammingError, match="Cannot update or delete rows"), transaction.atomic():
        AuditEntry.objects.filter(pk=entry.pk).update(action="forged")
    with pytest.raises(ProgrammingError, match="Cannot update or delete rows"), transaction.atomic():
        AuditEntry.objects.filter(pk=entry.pk).delete()
    assert AuditEntry.objects.get(pk=entry.pk).action == "system.tick"


@pytest.mark.django_db(transaction=True)
def test_audit_record_refuses_to_run_outside_a_transaction():
    with pytest.raises(AuditError, match="inside the transaction"):
        audit_record(actor=None, action="system.tick")
    assert not AuditEntry.objects.exists()


def test_an_empty_trail_verifies(settings, tmp_path):
    settings.AUDIT_CHECKPOINT_SINK = str(tmp_path / "checkpoints.jsonl")
    out = StringIO()
    call_command("verify_audit_trail", stdout=out)
    assert out.getvalue() == "OK: 0 entries, 0 checkpoints\n"
