"""manage.py launch_campaign CAMPAIGN --as USERNAME [--wait]: launch a run of a campaign (its id or name) as a
compliance officer. Without --wait the worker creates the items; with it, this process does (the same
idempotent steps), then prints the run's counts and digest."""

from __future__ import annotations

import json
import uuid

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError

from agentiam.errors import Conflict
from reviews.models import Campaign, CampaignRun
from reviews.services.campaigns import campaign_launch
from reviews.services.launching import run_launch

NO_SUCH_PERSON = "No active person has the username {username!r}."
NO_SUCH_CAMPAIGN = "No campaign has the id or name {given!r}."


def _campaign(given: str) -> Campaign:
    try:
        found = Campaign.objects.filter(uuid=uuid.UUID(given)).first()
    except ValueError:
        found = Campaign.objects.filter(name=given).first()
    if found is None:
        raise CommandError(NO_SUCH_CAMPAIGN.format(given=given))
    return found


class Command(BaseCommand):
    help = "Launch a run of a review campaign as a compliance officer."

    def add_arguments(self, parser):
        parser.add_argument("campaign", help="the campaign's id or name")
        parser.add_argument("--as", dest="username", metavar="USERNAME", required=True,
                            help="the compliance officer launching it (recorded in the audit trail)")  # fmt: skip
        parser.add_argument("--wait", action="store_true", help="create the items in this process and report")

    def handle(self, *args, campaign: str, username: str, wait: bool, **options):
        actor = get_user_model().objects.filter(username=username, is_active=True).first()
        if actor is None:
            raise CommandError(NO_SUCH_PERSON.format(username=username))
        found = _campaign(campaign)
        try:
            run = campaign_launch(campaign=found, actor=actor)
        except ValidationError as error:
            raise CommandError("; ".join(f"{k}: {' '.join(v)}" for k, v in error.message_dict.items())) from None
        except (PermissionDenied, Conflict) as error:
            raise CommandError(str(error)) from None
        if wait:
            run_launch(run_id=run.pk)
        run = CampaignRun.objects.get(pk=run.pk)
        self.stdout.write(json.dumps({
            "run": str(run.uuid), "number": run.number, "state": run.state, "total": run.total,
            "processed": run.processed, "counts": run.counts, "item_digest": run.item_digest,
            "extracted_at": run.extracted_at.isoformat() if run.extracted_at else None,
        }, sort_keys=True))  # fmt: skip
