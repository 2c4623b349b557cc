import getpass

from django.core.management.base import BaseCommand, CommandError

from audit import actors
from audit.keys import Purpose, SigningKeyError
from audit.services import signing_key_rotate


class Command(BaseCommand):
    help = (
        "Install a new active signing key for PURPOSE; the old key is retired (or, with --compromised, marked "
        "compromised) and its private half destroyed. Public keys stay, so what they signed still verifies."
    )

    def add_arguments(self, parser):
        parser.add_argument("purpose", choices=Purpose.values)
        parser.add_argument(
            "--compromised",
            action="store_true",
            help="the old key leaked: mark it compromised (tokens it signed are to be refused)",
        )

    def handle(self, *args, purpose, compromised, **options):
        # Who ran it, as far as the host knows: the command line has no signed-in person.
        actor = actors.job(f"manage.py rotate_signing_key ({getpass.getuser()})")
        try:
            key = signing_key_rotate(purpose=purpose, compromised=compromised, actor=actor)
        except (ValueError, SigningKeyError) as error:
            raise CommandError(str(error)) from error
        self.stdout.write(f"New active {purpose} key: {key.kid}")
