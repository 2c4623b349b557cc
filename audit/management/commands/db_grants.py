from django.core.management.base import BaseCommand, CommandError
from django.db import connections, transaction

from audit.privileges import grant_statements, role_problem


class Command(BaseCommand):
    help = (
        "Print (or, with --apply, run through the owner's connection) the GRANT and REVOKE statements that "
        "give ROLE what the app needs: SELECT, INSERT, UPDATE, DELETE on ordinary tables, only SELECT and "
        "INSERT on append-only ones. Run it after every migration."
    )

    def add_arguments(self, parser):
        parser.add_argument("role", help="the database role the app connects as (DATABASE_URL's user)")
        parser.add_argument("--apply", action="store_true", help="run the statements instead of printing them")
        parser.add_argument(
            "--database",
            default=None,
            help='connection to use: "owner" when DATABASE_OWNER_URL is set, otherwise "default"',
        )

    def handle(self, *args, role, apply, database, **options):
        alias = database or ("owner" if "owner" in connections.settings else "default")
        connection = connections[alias]
        try:
            statements = grant_statements(connection, role)
        except ValueError as error:
            raise CommandError(str(error)) from error
        if not apply:
            self.stdout.write("\n".join(statements))
            return
        problem = role_problem(connection, role)
        if problem:
            raise CommandError(problem)
        with transaction.atomic(using=alias), connection.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)
        self.stdout.write(f"Applied {len(statements)} statements for {role} through the {alias!r} connection.")
