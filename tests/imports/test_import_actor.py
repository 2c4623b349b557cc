"""Issue 9, class 11 (actor): `manage.py import_registry` without --as is named in the trail as the command
(and the host user who ran it), not as a bare "system"."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from audit.models import AuditEntry
from tests.imports.test_registry_import import make_zip

pytestmark = pytest.mark.django_db


def test_an_import_from_the_command_line_names_the_command(tmp_path):
    systems = [{"external_id": "sys-cli", "name": "Slack", "kind": "saas"}]
    call_command("import_registry", make_zip(tmp_path, systems__csv=systems), stdout=io.StringIO())
    entry = AuditEntry.objects.get(action="registry.import")
    assert entry.actor_kind == "job" and entry.actor_label.startswith("manage.py import_registry (")
