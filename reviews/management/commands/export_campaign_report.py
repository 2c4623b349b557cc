"""manage.py export_campaign_report RUN [--format json|csv] [--output FILE] [--draft]: a campaign run's report.

RUN is the run's id (its uuid, as on the dashboard's address). A signed-off run exports its frozen report —
exactly what the dashboard's downloads give (the JSON carries the report's SHA-256). An open run has no report
yet: `--draft` exports its current state instead, marked `"final": false`."""

from __future__ import annotations

import uuid
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from reviews.campaign_report import digest, report_build, report_csv, report_json
from reviews.models import CampaignRun
from reviews.models_campaigns import RunState

NO_SUCH_RUN = "No campaign run has the id {run!r}."
NOT_SIGNED = "Run {run} is {state}: only a signed-off run has a report (--draft exports its current state)."


class Command(BaseCommand):
    help = "Export a campaign run's report as JSON or CSV (the frozen one; --draft for a run not signed off)."

    def add_arguments(self, parser):
        parser.add_argument("run", help="the run's id (a uuid)")
        parser.add_argument("--format", choices=["json", "csv"], default="json")
        parser.add_argument("--output", metavar="FILE", help="write here instead of standard output")
        parser.add_argument("--draft", action="store_true", help="a run not signed off: its current state")

    def handle(self, *args, run, format, output, draft, **options):
        try:
            key = uuid.UUID(run)
        except ValueError:
            raise CommandError(NO_SUCH_RUN.format(run=run)) from None
        found = CampaignRun.objects.select_related("campaign", "launched_by").filter(uuid=key).first()
        if found is None:
            raise CommandError(NO_SUCH_RUN.format(run=run))
        if found.state == RunState.CLOSED and found.report:
            report, sealed = found.report, found.report_digest
        elif draft:
            report = report_build(found)
            sealed = digest(report)
        else:
            raise CommandError(NOT_SIGNED.format(run=found.uuid, state=found.get_state_display().lower()))
        body = report_csv(report) if format == "csv" else report_json(report, sealed)
        if output:
            Path(output).write_text(body, encoding="utf-8")
            self.stderr.write(f"Wrote {output}: {len(report['items'])} items, sha256 {sealed}")
        else:
            self.stdout.write(body, ending="")
