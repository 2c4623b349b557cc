"""manage.py import_registry FILE [--dry-run] [--as USERNAME]: import a registry ZIP now, synchronously.

The same import as POST /api/v1/import/ (same checks, same "who grants what", all or nothing, one audit
entry). Without --as it runs as the system: role rules do not apply, but nobody can accept a risk
exception, so rows that need one are refused."""

from __future__ import annotations

import getpass
import json
import time
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.core.management.base import BaseCommand, CommandError

from audit import actors
from identities.imports.runner import registry_import

NO_SUCH_PERSON = "No active person has the username {username!r}."
NO_SUCH_FILE = "No file at {path}."


class Command(BaseCommand):
    help = "Import a registry ZIP (CSV or JSON Lines per entity type); --dry-run checks it and writes nothing."

    def add_arguments(self, parser):
        parser.add_argument("file", help="the ZIP to import")
        parser.add_argument("--dry-run", action="store_true", help="check everything, report, write nothing")
        parser.add_argument("--as", dest="username", metavar="USERNAME", help="import as this person (their rules)")
        parser.add_argument("--json", action="store_true", help="print the result as JSON")

    def handle(self, *args, file, dry_run, username, json: bool = False, **options):
        path = Path(file)
        if not path.is_file():
            raise CommandError(NO_SUCH_FILE.format(path=path))
        actor = None
        if username:
            actor = get_user_model().objects.filter(username=username, is_active=True).first()
            if actor is None:
                raise CommandError(NO_SUCH_PERSON.format(username=username))
        started = time.monotonic()
        try:  # without --as, the trail names this command (and who ran it on the host) as the job
            with actors.running_job(f"manage.py import_registry ({getpass.getuser()})"):
                result = registry_import(path=path, actor=actor, dry_run=dry_run, filename=path.name)
        except PermissionDenied as error:
            raise CommandError(str(error)) from None
        elapsed = time.monotonic() - started
        if json:
            self.stdout.write(_json(result.as_json()))
        else:
            self._print(result, elapsed)
        if not result.ok:
            raise CommandError(f"{result.report.error_count} problem(s): nothing was written.")

    def _print(self, result, elapsed: float) -> None:
        mode = "Dry run" if result.dry_run else "Import"
        verdict = "OK" if result.ok else "REFUSED"
        self.stdout.write(f"{mode} of {result.size} bytes (sha256 {result.sha256}): {verdict} in {elapsed:.1f} s")
        for entity, counts in result.counts.items():
            if isinstance(counts, dict):
                detail = ", ".join(f"{name.replace('_', ' ')} {value}" for name, value in counts.items())
                self.stdout.write(f"  {entity:<13} {detail}")
        for problem in result.report.sorted_problems():
            where = f"{problem.file}:{problem.line}" if problem.line else problem.file
            field = f" [{problem.field}]" if problem.field else ""
            self.stdout.write(f"  {problem.level.upper():<6} {where}{field}: {problem.message}")
        hidden = result.report.error_count + result.report.notice_count - len(result.report.problems)
        if hidden > 0:
            self.stdout.write(f"  … and {hidden} more")


def _json(data) -> str:
    return json.dumps(data, indent=2, default=str)
