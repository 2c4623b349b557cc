"""manage.py list_campaigns [--json] [--archived]: the review campaigns, their cadence and latest run."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand

from reviews.models import Campaign, CampaignRun


class Command(BaseCommand):
    help = "List review campaigns with their cadence and latest run (tab-separated, or --json)."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="one JSON object per line")
        parser.add_argument("--archived", action="store_true", help="include archived campaigns")

    def handle(self, *args, json: bool = False, archived: bool = False, **options):
        campaigns = Campaign.objects.order_by("name")
        if not archived:
            campaigns = campaigns.filter(archived_at__isnull=True)
        latest = {}
        for run in CampaignRun.objects.filter(campaign__in=campaigns).order_by("campaign_id", "-number").distinct(
                "campaign_id"):  # fmt: skip
            latest[run.campaign_id] = run
        if not json:
            self.stdout.write("id\tname\tcadence\tlatest run\tstate\titems\tdue")
        for campaign in campaigns:
            run = latest.get(campaign.pk)
            row = {
                "id": str(campaign.uuid),
                "name": campaign.name,
                "cadence": f"{campaign.cron} {campaign.timezone}" if campaign.recurrence == "cron" else "once",
                "archived": campaign.archived_at is not None,
                "run": str(run.uuid) if run else None,
                "run_number": run.number if run else None,
                "state": run.state if run else "",
                "items": run.total if run else 0,
                "processed": run.processed if run else 0,
                "due_at": run.due_at.isoformat() if run and run.due_at else None,
            }
            if json:
                self.stdout.write(_dumps(row))
            else:
                self.stdout.write("\t".join(str(v if v is not None else "") for v in (
                    row["id"], row["name"], row["cadence"], row["run_number"], row["state"], row["items"],
                    row["due_at"])))  # fmt: skip


def _dumps(row: dict) -> str:
    return json.dumps(row, sort_keys=True)
