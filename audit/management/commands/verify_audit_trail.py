import sys

from django.core.management.base import BaseCommand

from audit.sinks import get_sink
from audit.verify import verify_trail


class Command(BaseCommand):
    help = (
        "Recompute every audit entry's hash and link, check every checkpoint's signature against the chain, "
        "and compare with the external checkpoint sink. Prints OK, or the first entry or checkpoint that "
        "does not match (exit status 1)."
    )

    def handle(self, *args, **options):
        sink = get_sink()
        verdict = verify_trail(sink=sink)
        if not verdict.ok:
            self.stderr.write(f"MISMATCH: {verdict.problem}")
            sys.exit(1)
        self.stdout.write(f"OK: {verdict.entries} entries, {verdict.checkpoints} checkpoints")
        if verdict.sink_checkpoints < verdict.checkpoints:
            self.stdout.write(
                f"note: the external sink ({sink}) holds {verdict.sink_checkpoints} of them; "
                "the next checkpoint task copies the rest"
            )
