"""Review items to attest, for the attestation tests: an open campaign run over the reviews estate's agent
(owned by cast.identity_owner, who reviews), with a standing read (recommended keep), a standing write granted
by the administrator (recommended revoke, flagged: unused) and a second read (no recommendation)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.utils import timezone

from identities import services as registry
from identities.models import Entitlement
from reviews.models import Campaign, CampaignRun, ReviewItem

__all__ = ["Attest", "attest", "build_attest", "make_item", "make_run"]


def make_run(created_by, *, name="Quarterly agent access", total=1, definition=None, **fields) -> CampaignRun:
    """An open run (its snapshot is frozen once written: give its size and definition here)."""
    campaign = Campaign.objects.create(name=name, created_by=created_by, **fields)
    now = timezone.now()
    frozen = {
        "comment_required": campaign.comment_required,
        "reviewer_rule": campaign.reviewer_rule,
        "fallback_group": campaign.fallback_group_id,
        "independent_reviewer": campaign.independent_reviewer,
    }
    return CampaignRun.objects.create(
        campaign=campaign, number=1, state="open", launched_by=created_by, launched_at=now, extracted_at=now,
        opened_at=now, item_digest=hashlib.sha256(name.encode()).hexdigest(), total=total, processed=total,
        stage=1, stage_started_at=now, due_at=now + timedelta(days=14), definition={**frozen, **(definition or {})},
    )  # fmt: skip


def make_item(run, entitlement: Entitlement, reviewer, *, seq=None, recommendation="keep", flagged=False,
              reason="", independent=False, requested_by=None, **fields) -> ReviewItem:  # fmt: skip
    seq = seq or (ReviewItem.objects.filter(run=run).count() + 1)
    return ReviewItem.objects.create(
        run=run, seq=seq, entitlement=entitlement, identity_id=entitlement.identity_id,
        holder_person=getattr(entitlement.identity, "person", None), granted_by=entitlement.granted_by,
        requested_by=requested_by, independent=independent, reviewer=reviewer, routed_via="owner",
        due_at=run.due_at, recommendation=recommendation, reason=reason or f"recommended {recommendation}",
        flagged=flagged, evidence={"last_used_at": None, "usage_source": "decision_log"}, **fields,
    )  # fmt: skip


@dataclass
class Attest:
    estate: object
    run: CampaignRun
    keep: ReviewItem  # standing read on github.read_repo, recommended keep
    revoke: ReviewItem  # standing write on github.create_pull_request (granted by the administrator), flagged
    none: ReviewItem  # standing read on github.create_pull_request, no recommendation

    @property
    def owner(self):
        return self.estate.cast.identity_owner


def build_attest(estate, definition: dict | None = None) -> Attest:
    cast, agent = estate.cast, estate.agent
    read = registry.entitlement_grant(identity=agent, tool=estate.read, action="read", actor=cast.identity_owner,
                                      scope={"repo": "acme/*"}, reason="reads the repositories it triages")  # fmt: skip
    write = registry.entitlement_grant(identity=agent, tool=estate.write, action="write", actor=cast.administrator,
                                       reason="opens fix PRs")  # fmt: skip
    pr_read = registry.entitlement_grant(identity=agent, tool=estate.write, action="read", actor=cast.identity_owner)
    run = make_run(cast.compliance_officer, total=3, definition=definition)
    keep = make_item(run, read, cast.identity_owner, recommendation="keep", reason="used 2 days ago")
    revoke = make_item(run, write, cast.identity_owner, recommendation="revoke", flagged=True,
                       reason="unused for 90 days", independent=True)  # fmt: skip
    none = make_item(run, pr_read, cast.identity_owner, recommendation="none", reason="no usage data")
    return Attest(estate, run, keep, revoke, none)


@pytest.fixture
def attest(estate) -> Attest:
    return build_attest(estate)
