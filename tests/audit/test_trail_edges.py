"""The edges of trail verification: a configured sink that is missing, cut or replaced while the database
holds checkpoints is a failure (beyond one checkpoint window of lag); an empty trail on a database whose
signing keys say entries were written is a failure; the checkpoint window is a setting in seconds."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from audit.models import AuditEntry
from audit.sinks import JsonlFileSink
from audit.verify import verify_trail
from tests.audit.test_integrity import checkpoint, record, verify

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def sink(settings, tmp_path, signing_keys):
    settings.AUDIT_CHECKPOINT_SINK = str(tmp_path / "audit" / "checkpoints.jsonl")
    return JsonlFileSink(settings.AUDIT_CHECKPOINT_SINK)


def later(seconds: int) -> str | None:
    """The verdict `seconds` from now (a checkpoint's time is signed: the clock moves, not the row)."""
    return verify_trail(now=timezone.now() + timedelta(seconds=seconds)).problem


def test_a_sink_file_that_is_gone_while_the_database_has_checkpoints_fails(django_capture_on_commit_callbacks, sink):
    record(2)
    made = checkpoint(django_capture_on_commit_callbacks)
    sink.path.unlink()
    assert verify()[0] == 0  # younger than one window: the copy may still be on its way
    message = later(settings.AUDIT_CHECKPOINT_INTERVAL + 5)
    assert f"checkpoint #{made.pk}" in message and "not in the external sink" in message


def test_a_sink_shorter_than_the_databases_checkpoints_fails(django_capture_on_commit_callbacks, sink):
    record(2)
    first = checkpoint(django_capture_on_commit_callbacks)
    kept = sink.path.read_text()
    record(2)
    second = checkpoint(django_capture_on_commit_callbacks)
    sink.path.write_text(kept)  # the second record cut off
    message = later(3600)
    assert f"checkpoint #{second.pk}" in message and f"#{first.pk}" not in message.split("(")[0]
    assert "not in the external sink" in message


def test_an_empty_trail_on_a_database_with_audited_rows_fails(django_capture_on_commit_callbacks, sink):
    record(2)
    checkpoint(django_capture_on_commit_callbacks)
    sink.path.unlink()
    with connection.cursor() as cursor:  # what a superuser's TRUNCATE leaves
        cursor.execute("TRUNCATE audit_auditentry, audit_auditcheckpoint")
    assert not AuditEntry.objects.exists()
    code, message = verify()
    assert code == 1 and "the trail is empty, but the database holds" in message and "truncated" in message


def test_the_checkpoint_window_is_a_setting_in_seconds():
    assert settings.AUDIT_CHECKPOINT_INTERVAL == 60
    entry = settings.CELERY_BEAT_SCHEDULE["audit-checkpoint"]
    assert entry["schedule"] == float(settings.AUDIT_CHECKPOINT_INTERVAL)
    assert entry["options"]["expires"] < settings.AUDIT_CHECKPOINT_INTERVAL
