import getpass

from django.core.management.base import BaseCommand

from audit import actors
from audit.services import signing_key_ensure


class Command(BaseCommand):
    help = (
        "Create the active signing key of every purpose that has none (audited); keys that exist are left alone. "
        "`migrate` runs this on the app's connection and `prepare_run` runs it too; run it after "
        "`migrate --database owner` and `db_grants`."
    )

    def handle(self, *args, **options):
        created = signing_key_ensure(actor=actors.job(f"manage.py ensure_signing_keys ({getpass.getuser()})"))
        for key in created if options["verbosity"] else ():
            self.stdout.write(f"New active {key.purpose} key: {key.kid}")
