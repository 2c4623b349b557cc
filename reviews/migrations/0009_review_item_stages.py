"""Later stages of a campaign (e.g. the manager confirms owners' keeps of high/critical items).

- `prior_decided_by`: who kept the item in the stage before; a CHECK keeps them off its review (nobody confirms
  their own keep), beside the holder / requester / granter CHECKs of 0005.
- Inserted later-stage items are checked set-wise (one statement-level trigger over the inserted rows): each
  continues an item of the stage before in the same run (same scope entry and subject) that was kept (certify,
  decided or fulfilled), and names who kept it.
- A decided item of a stage that is over (the run moved on) never changes its decision, and `prior_decided_by`
  never changes."""

import importlib

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from audit.hardening import plain_trigger

statement = importlib.import_module("reviews.migrations.0006_campaign_guards").statement_trigger

DECISION_COLUMNS = (
    "decision", "decided_via", "reduce_scope", "reduce_jit_only", "comment", "decided_by_id", "decided_at",
    "time_spent_ms", "bulk",
)  # fmt: skip


def _row(prefix: str) -> str:
    return "(" + ", ".join(f"{prefix}.{column}" for column in DECISION_COLUMNS) + ")"


REVIEW_ITEM_STAGE = f"""
IF NEW.prior_decided_by_id IS DISTINCT FROM OLD.prior_decided_by_id THEN
    RAISE EXCEPTION 'who kept review item % in the stage before never changes', OLD.uuid USING ERRCODE = 'P0001';
END IF;
IF OLD.state <> 'pending' AND {_row("NEW")} IS DISTINCT FROM {_row("OLD")}
   AND OLD.stage < (SELECT run.stage FROM reviews_campaignrun run WHERE run.id = OLD.run_id) THEN
    RAISE EXCEPTION 'review item %: its stage is over and its decision never changes', OLD.uuid
        USING ERRCODE = 'P0001';
END IF;
RETURN NEW;
"""  # noqa: S608 - constant SQL fragments, no input

REVIEW_ITEM_STAGE_INSERTED = """
IF EXISTS (
    SELECT 1
      FROM added n
      LEFT JOIN reviews_reviewitem p ON p.run_id = n.run_id AND p.seq = n.seq AND p.stage = n.stage - 1
     WHERE n.stage > 1 AND (
               p.id IS NULL OR p.decision <> 'certify' OR p.state NOT IN ('decided', 'fulfilled')
            OR p.decided_by_id IS DISTINCT FROM n.prior_decided_by_id
            OR (p.entitlement_id, p.role_holder_id, p.role) IS DISTINCT FROM (n.entitlement_id, n.role_holder_id, n.role))
) THEN
    RAISE EXCEPTION 'a later stage reviews only what the stage before kept, and names who kept it'
        USING ERRCODE = '23514';
END IF;
RETURN NULL;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("identities", "0005_grant_has_task"),
        ("reviews", "0008_review_item_attest_guards"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="reviewitem",
            name="prior_decided_by",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddConstraint(
            model_name="reviewitem",
            constraint=models.CheckConstraint(
                condition=models.Q(reviewer__isnull=True)
                | models.Q(prior_decided_by__isnull=True)
                | ~models.Q(reviewer=models.F("prior_decided_by")),
                name="reviews_item_reviewer_not_prior",
            ),
        ),
        migrations.AddConstraint(
            model_name="reviewitem",
            constraint=models.CheckConstraint(
                condition=models.Q(stage__gt=1) | models.Q(prior_decided_by__isnull=True),
                name="reviews_item_prior_only_later",
            ),
        ),
        plain_trigger(
            table="reviews_reviewitem", name="review_item_stage", operations="UPDATE", body=REVIEW_ITEM_STAGE
        ),
        statement(table="reviews_reviewitem", name="review_item_stage_inserted", body=REVIEW_ITEM_STAGE_INSERTED),
    ]
