import getpass

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from audit import actors
from audit.events.services import ingest_key_create


class Command(BaseCommand):
    help = (
        "Issue an ingest key NAME for POST /api/v1/events and POST /v1/traces and print it once. It writes for "
        "no identity until scoped: --identity (public id) and --service (a registered service name) may be "
        "repeated; --all lets a collector write for every identity."
    )

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--all", action="store_true", dest="all_identities", help="write for every identity")
        parser.add_argument("--identity", action="append", default=[], help="an identity's public id")
        parser.add_argument("--service", action="append", default=[], help="a registered service name")

    def handle(self, *args, name, all_identities, identity, service, **options):
        actor = actors.job(f"manage.py issue_ingest_key ({getpass.getuser()})")
        try:
            key, secret = ingest_key_create(
                actor=actor, name=name, all_identities=all_identities, identities=identity, service_names=service
            )
        except ValidationError as error:
            raise CommandError("; ".join(f"{f}: {' '.join(m)}" for f, m in error.message_dict.items())) from error
        scope = "every identity" if key.all_identities else f"{len(identity)} identities, {len(service)} services"
        self.stderr.write(f"Ingest key {key.name} ({scope}). It is shown only now:")
        self.stdout.write(secret)
