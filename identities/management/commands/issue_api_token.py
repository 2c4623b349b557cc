"""manage.py issue_api_token USERNAME [--expires-in DAYS] [--name NAME]: print a new personal API token."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from identities import services
from identities.models import API_TOKEN_DEFAULT_DAYS, API_TOKEN_MAX_DAYS, PersonStatus

NO_SUCH_PERSON = "No person has the username {username!r}."
PERSON_INACTIVE = "{username} is not active; a token for them would not work."


class Command(BaseCommand):
    help = "Create a personal API token for a person and print it (it is shown only this once)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument(
            "--expires-in",
            type=int,
            default=API_TOKEN_DEFAULT_DAYS,
            metavar="DAYS",
            help=f"days until it expires (1 to {API_TOKEN_MAX_DAYS}, default {API_TOKEN_DEFAULT_DAYS})",
        )
        parser.add_argument("--name", default="issued from the command line")

    def handle(self, *args, username, expires_in, name, **options):
        user = get_user_model().objects.filter(username=username).select_related("profile").first()
        if user is None:
            raise CommandError(NO_SUCH_PERSON.format(username=username))
        if not user.is_active or user.profile.status != PersonStatus.ACTIVE:
            raise CommandError(PERSON_INACTIVE.format(username=username))
        try:
            token, secret = services.api_token_create(actor=user, name=name, expires_in_days=expires_in)
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from None
        self.stderr.write(f"Token {token.prefix} for {username}, expires {token.expires_at:%Y-%m-%d}:")
        self.stdout.write(secret)
