from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from agentiam.seeding import seed_modules


class Command(BaseCommand):
    help = "Load the demo estate (idempotent), or with --scale N a large data set for benchmarks."

    def add_arguments(self, parser):
        parser.add_argument("--scale", type=int, metavar="N", help="create N of each scaled entity (benchmarks)")
        parser.add_argument("--allow-production", action="store_true", help="seed even with the production profile")

    def handle(self, *args, scale=None, allow_production=False, **options):
        if settings.PRODUCTION and not allow_production:
            raise CommandError("refusing to load demo data with the production profile (pass --allow-production)")
        if scale is not None:
            if scale < 1:
                raise CommandError("--scale must be a positive number")
            for module in seed_modules():
                if hasattr(module, "scale"):
                    module.scale(scale, self.stdout)
            return
        lines: list[str] = []
        with transaction.atomic():
            for module in seed_modules():
                if hasattr(module, "demo"):
                    lines += module.demo(self.stdout)
        self.stdout.write("\n  ".join(lines))
