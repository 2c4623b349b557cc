"""Review campaigns' plain triggers (audit.hardening: no session setting switches them off).

- Review items: what an item was launched with (subject, copies of holder / requester / granter, the frozen
  recommendation and evidence) never changes; nothing returns to pending; a revoke, a reduce, a no-answer
  outcome and a revoked-elsewhere are final; the reviewer changes only while the item is pending; after the
  reviewer's sign-off the decision never changes; a fulfilled item stays fulfilled; no item is ever deleted.
- Every INSERT of items is checked set-wise (one statement-level trigger over the inserted rows, so a launch of
  a million items pays one join per batch, not a lookup per row): the copies must be the entitlement's own
  identity, the person of a human identity, its granter and the requester of the JIT grant it came from (an
  elevation request or a break-glass), and `independent` must follow the run's frozen definition. ReviewItem's
  CHECK constraints then hold the separation of duties against those copies.
- Campaign runs: never relaunched once open; the snapshot (definition, scope, statement, counts, total,
  extraction time, digest) never changes once written; progress never goes back; a closed or cancelled run
  never changes; no run is deleted."""

from django.db import migrations

from audit.hardening import PREFIX, plain_trigger

ITEM_FROZEN_COLUMNS = (
    "uuid", "run_id", "stage", "seq", "entitlement_id", "identity_id", "role_holder_id", "role", "holder_person_id",
    "requested_by_id", "granted_by_id", "independent", "recommendation", "reasons", "reason", "flagged",
    "evidence",
)  # fmt: skip
ITEM_DECISION_COLUMNS = (
    "decision", "decided_via", "reduce_scope", "reduce_jit_only", "comment", "decided_by_id", "decided_at",
    "time_spent_ms", "bulk",
)  # fmt: skip
ITEM_FULFILMENT_COLUMNS = (
    "fulfilment_status", "fulfilment_error", "fulfilment_attempts", "fulfilment_next_at", "fulfilled_at",
    "fulfilled_by_id", "replacement_id", "eligibility_id",
)  # fmt: skip


def _row(prefix: str, columns) -> str:
    return "(" + ", ".join(f"{prefix}.{column}" for column in columns) + ")"


REVIEW_ITEM = f"""
IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'review items are never deleted' USING ERRCODE = 'P0001';
END IF;
IF {_row("NEW", ITEM_FROZEN_COLUMNS)} IS DISTINCT FROM {_row("OLD", ITEM_FROZEN_COLUMNS)} THEN
    RAISE EXCEPTION 'what review item % was launched with never changes', OLD.uuid USING ERRCODE = 'P0001';
END IF;
IF OLD.state <> 'pending' AND NEW.state = 'pending' THEN
    RAISE EXCEPTION 'review item % was decided and never returns to pending', OLD.uuid USING ERRCODE = 'P0001';
END IF;
IF OLD.state = 'fulfilled' AND (NEW.state <> 'fulfilled'
        OR {_row("NEW", ITEM_FULFILMENT_COLUMNS)} IS DISTINCT FROM {_row("OLD", ITEM_FULFILMENT_COLUMNS)}) THEN
    RAISE EXCEPTION 'review item % is fulfilled and stays so', OLD.uuid USING ERRCODE = 'P0001';
END IF;
IF (OLD.decision IN ('revoke', 'reduce') OR OLD.decided_via IN ('no_answer', 'elsewhere')
        OR OLD.signed_off_at IS NOT NULL)
   AND {_row("NEW", ITEM_DECISION_COLUMNS)} IS DISTINCT FROM {_row("OLD", ITEM_DECISION_COLUMNS)} THEN
    RAISE EXCEPTION 'the decision on review item % is final (revoked, reduced, applied or signed off)', OLD.uuid
        USING ERRCODE = 'P0001';
END IF;
IF OLD.signed_off_at IS NOT NULL AND NEW.signed_off_at IS DISTINCT FROM OLD.signed_off_at THEN
    RAISE EXCEPTION 'review item % is signed off and stays so', OLD.uuid USING ERRCODE = 'P0001';
END IF;
IF OLD.state <> 'pending' AND (NEW.reviewer_id IS DISTINCT FROM OLD.reviewer_id
        OR NEW.routed_via IS DISTINCT FROM OLD.routed_via) THEN
    RAISE EXCEPTION 'only a pending review item changes reviewer' USING ERRCODE = 'P0001';
END IF;
RETURN NEW;
"""

# Set-wise: the copies an inserted item carries are its entitlement's (see the module docstring).
REVIEW_ITEM_INSERTED = """
IF EXISTS (
    SELECT 1
      FROM added n
      JOIN reviews_campaignrun run ON run.id = n.run_id
      LEFT JOIN identities_entitlement e ON e.id = n.entitlement_id
      LEFT JOIN identities_identity i ON i.id = e.identity_id
      LEFT JOIN reviews_elevationrequest r ON e.grant_id IS NOT NULL AND r.grant_id = e.grant_id
      LEFT JOIN reviews_breakglass bg ON e.grant_id IS NOT NULL AND bg.grant_id = e.grant_id
     WHERE n.entitlement_id IS NOT NULL AND (
               n.identity_id IS DISTINCT FROM e.identity_id
            OR n.holder_person_id IS DISTINCT FROM i.person_id
            OR n.granted_by_id IS DISTINCT FROM e.granted_by_id
            OR n.requested_by_id IS DISTINCT FROM COALESCE(r.requested_by_id, bg.person_id)
            OR n.independent IS DISTINCT FROM (
                   COALESCE(run.definition->>'independent_reviewer', 'privileged') = 'all'
                OR (COALESCE(run.definition->>'independent_reviewer', 'privileged') = 'privileged'
                    AND e.action <> 'read')))
) THEN
    RAISE EXCEPTION 'a review item names another holder, requester or granter than its entitlement has'
        USING ERRCODE = '23514';
END IF;
IF EXISTS (SELECT 1 FROM added n WHERE n.role_holder_id IS NOT NULL AND (n.requested_by_id IS NOT NULL
           OR n.granted_by_id IS NOT NULL OR n.independent)) THEN
    RAISE EXCEPTION 'a role-holding review item names no requester or granter' USING ERRCODE = '23514';
END IF;
RETURN NULL;
"""

CAMPAIGN_RUN = """
IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'campaign runs are never deleted' USING ERRCODE = 'P0001';
END IF;
IF OLD.state IN ('closed', 'cancelled') AND to_jsonb(NEW) IS DISTINCT FROM to_jsonb(OLD) THEN
    RAISE EXCEPTION 'campaign run % is % and never changes', OLD.uuid, OLD.state USING ERRCODE = 'P0001';
END IF;
IF OLD.state = 'open' AND NEW.state = 'launching' THEN
    RAISE EXCEPTION 'campaign run % is open and never relaunches', OLD.uuid USING ERRCODE = 'P0001';
END IF;
IF (NEW.campaign_id, NEW.number, NEW.launched_at, NEW.uuid) IS DISTINCT FROM
   (OLD.campaign_id, OLD.number, OLD.launched_at, OLD.uuid)
   OR (OLD.extracted_at IS NOT NULL AND (NEW.extracted_at, NEW.scope, NEW.scope_sql, NEW.counts, NEW.total,
       NEW.definition) IS DISTINCT FROM (OLD.extracted_at, OLD.scope, OLD.scope_sql, OLD.counts, OLD.total,
       OLD.definition))
   OR (OLD.item_digest <> '' AND NEW.item_digest IS DISTINCT FROM OLD.item_digest) THEN
    RAISE EXCEPTION 'the snapshot of campaign run % never changes', OLD.uuid USING ERRCODE = 'P0001';
END IF;
IF NEW.processed < OLD.processed THEN
    RAISE EXCEPTION 'a launch''s progress never goes back' USING ERRCODE = 'P0001';
END IF;
RETURN NEW;
"""


def statement_trigger(*, table: str, name: str, body: str) -> migrations.RunSQL:
    """An AFTER INSERT … FOR EACH STATEMENT trigger seeing the inserted rows as `added`."""
    function = f"{PREFIX}{name}"
    return migrations.RunSQL(
        sql=[
            f"CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $hard$\nBEGIN\n"
            f"{body}\nEND;\n$hard$;",
            f'DROP TRIGGER IF EXISTS {function} ON "{table}";',
            f'CREATE TRIGGER {function} AFTER INSERT ON "{table}" REFERENCING NEW TABLE AS added '
            f"FOR EACH STATEMENT EXECUTE FUNCTION {function}();",
        ],
        reverse_sql=[f'DROP TRIGGER IF EXISTS {function} ON "{table}";', f"DROP FUNCTION IF EXISTS {function}();"],
    )


class Migration(migrations.Migration):
    dependencies = [
        ("reviews", "0005_campaigns"),
        ("audit", "0004_hard_guards"),
    ]

    operations = [
        plain_trigger(table="reviews_reviewitem", name="review_item", operations="UPDATE OR DELETE", body=REVIEW_ITEM),
        statement_trigger(table="reviews_reviewitem", name="review_item_inserted", body=REVIEW_ITEM_INSERTED),
        plain_trigger(
            table="reviews_campaignrun", name="campaign_run", operations="UPDATE OR DELETE", body=CAMPAIGN_RUN
        ),
    ]
