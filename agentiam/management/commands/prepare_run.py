"""Everything `make run` does before it starts the servers, in one process (each Django start-up costs
seconds on a small machine, and a restart must answer quickly): migrate, collect static files when they
changed, make sure every signing key exists, and load the demo data once."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

from django.conf import settings
from django.contrib.staticfiles.finders import get_finders
from django.core.management import call_command
from django.core.management.base import BaseCommand

FINGERPRINT = ".agentiam-static-fingerprint"


def static_fingerprint() -> str:
    """A digest of every static source file's path, size and modification time."""
    digest = hashlib.sha256()
    entries = []
    for finder in get_finders():
        for path, storage in finder.list([]):
            stat = Path(storage.path(path)).stat()
            entries.append(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}")
    for entry in sorted(entries):
        digest.update(entry.encode())
    return digest.hexdigest()


class Command(BaseCommand):
    help = "Migrate, collect static files if they changed, and load the demo data once (used by make run)."

    def handle(self, *args, **options):
        call_command("migrate", interactive=False, verbosity=0)
        call_command("ensure_signing_keys", verbosity=0)  # migrate does too; this also covers an owner-run one
        marker = Path(settings.STATIC_ROOT) / FINGERPRINT
        wanted = static_fingerprint()
        if not marker.exists() or marker.read_text() != wanted:
            call_command("collectstatic", interactive=False, verbosity=0)
            marker.write_text(wanted)
        out = io.StringIO()
        call_command("seed_demo", stdout=out)
        self.stdout.write(out.getvalue())
