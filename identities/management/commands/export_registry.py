"""manage.py export_registry FILE [--as USERNAME]: write the registry as a ZIP in the import format.

PostgreSQL writes each file itself (COPY (SELECT …) TO STDOUT), in one snapshot. Without --as the whole
registry is exported; with it, what that person may see. Importing the export changes nothing."""

from __future__ import annotations

from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from identities.imports.export import registry_export

NO_SUCH_PERSON = "No active person has the username {username!r}."


class Command(BaseCommand):
    help = "Export the registry to a ZIP of CSV files (the import format)."

    def add_arguments(self, parser):
        parser.add_argument("file", help="where to write the ZIP ('-' for standard output)")
        parser.add_argument("--as", dest="username", metavar="USERNAME", help="export what this person may see")

    def handle(self, *args, file, username, **options):
        actor = None
        if username:
            actor = get_user_model().objects.filter(username=username, is_active=True).first()
            if actor is None:
                raise CommandError(NO_SUCH_PERSON.format(username=username))
        if file == "-":
            counts = registry_export(self.stdout.buffer if hasattr(self.stdout, "buffer") else self.stdout, actor=actor)
        else:
            with open(Path(file), "wb") as target:
                counts = registry_export(target, actor=actor)
            summary = ", ".join(f"{name} {rows}" for name, rows in counts.items())
            self.stderr.write(f"Wrote {file}: {summary}")
