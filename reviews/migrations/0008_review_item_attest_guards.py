"""Attestation's plain triggers (audit.hardening: no session setting switches them off).

- A reassignment (the reviewer changes, `routed_via = 'reassigned'`) goes only to an active person the run's
  frozen reviewer rule names for the item: under the owner rule a current owner of the identity; under the owner
  and manager rules the manager of its accountable owner (of the role holder, for an AgentIAM role); always a
  member of the fallback group. `reassigned_from` is the reviewer it came from. (Separation of duties — never the
  holder, the requester or, when independent, the granter — is the item's CHECK constraints.)
- A privileged reduce is completed (`fulfilled_by`) by nobody who owns the identity now."""

from django.db import migrations

from audit.hardening import plain_trigger

RULE = """COALESCE(
    (SELECT s->>'reviewer_rule' FROM reviews_campaignrun run, jsonb_array_elements(
         CASE jsonb_typeof(run.definition->'stages') WHEN 'array' THEN run.definition->'stages' ELSE '[]'::jsonb END) s
      WHERE run.id = NEW.run_id AND (s->>'number') = NEW.stage::text),
    (SELECT run.definition->>'reviewer_rule' FROM reviews_campaignrun run WHERE run.id = NEW.run_id),
    'owner')"""

FALLBACK = """(SELECT CASE jsonb_typeof(run.definition->'fallback_group') WHEN 'number'
                    THEN (run.definition->>'fallback_group')::bigint END
               FROM reviews_campaignrun run WHERE run.id = NEW.run_id)"""

REVIEW_ITEM_ATTEST = f"""
IF NEW.reviewer_id IS DISTINCT FROM OLD.reviewer_id AND NEW.routed_via = 'reassigned' THEN
    IF NEW.reassigned_from_id IS DISTINCT FROM OLD.reviewer_id THEN
        RAISE EXCEPTION 'review item % is reassigned from its reviewer only', OLD.uuid USING ERRCODE = '23514';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM auth_user u JOIN identities_profile p ON p.user_id = u.id
                    WHERE u.id = NEW.reviewer_id AND u.is_active AND p.status = 'active') THEN
        RAISE EXCEPTION 'review item % is reassigned to an active person only', OLD.uuid USING ERRCODE = '23514';
    END IF;
    IF NOT (
        (NEW.identity_id IS NOT NULL AND {RULE} = 'owner' AND EXISTS (
            SELECT 1 FROM identities_ownership o
             WHERE o.identity_id = NEW.identity_id AND o.person_id = NEW.reviewer_id
               AND o.valid_from <= clock_timestamp() AND (o.valid_to IS NULL OR o.valid_to > clock_timestamp())))
        OR ({RULE} IN ('owner', 'manager') AND NEW.identity_id IS NOT NULL AND EXISTS (
            SELECT 1 FROM identities_ownership o JOIN identities_profile p ON p.user_id = o.person_id
             WHERE o.identity_id = NEW.identity_id AND o.role = 'accountable' AND p.manager_id = NEW.reviewer_id
               AND o.valid_from <= clock_timestamp() AND (o.valid_to IS NULL OR o.valid_to > clock_timestamp())))
        OR ({RULE} IN ('owner', 'manager') AND NEW.role_holder_id IS NOT NULL AND EXISTS (
            SELECT 1 FROM identities_profile p WHERE p.user_id = NEW.role_holder_id AND p.manager_id = NEW.reviewer_id))
        OR EXISTS (SELECT 1 FROM auth_user_groups g WHERE g.user_id = NEW.reviewer_id AND g.group_id = {FALLBACK})
    ) THEN
        RAISE EXCEPTION 'review item %: the campaign''s reviewer rule does not name the new reviewer', OLD.uuid
            USING ERRCODE = '23514';
    END IF;
END IF;
IF NEW.fulfilled_by_id IS NOT NULL AND NEW.fulfilled_by_id IS DISTINCT FROM OLD.fulfilled_by_id AND EXISTS (
        SELECT 1 FROM identities_ownership o
         WHERE o.identity_id = NEW.identity_id AND o.person_id = NEW.fulfilled_by_id
           AND o.valid_from <= clock_timestamp() AND (o.valid_to IS NULL OR o.valid_to > clock_timestamp())) THEN
    RAISE EXCEPTION 'review item %: an owner of the identity may not complete its reduce', OLD.uuid
        USING ERRCODE = '23514';
END IF;
RETURN NEW;
"""  # noqa: S608 - constant SQL fragments, no input


class Migration(migrations.Migration):
    dependencies = [
        ("reviews", "0007_rule_delegation_uuid"),
        ("identities", "0001_initial"),
    ]

    operations = [
        plain_trigger(
            table="reviews_reviewitem", name="review_item_attest", operations="UPDATE", body=REVIEW_ITEM_ATTEST
        ),
    ]
