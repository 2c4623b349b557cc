"""Plain triggers (audit.hardening) that hold against the app role whatever it SETs (issue 9, class 12): a
closed elevation request keeps its state and grant; a closed break-glass review never changes (but for being
superseded, once) and its closer is never the person or a current owner; an applied or withdrawn rule change
never changes; none of them is ever deleted. The pgtrigger triggers stay for their messages under the ORM."""

import pgtrigger.compiler
import pgtrigger.migrations
from django.db import migrations

from audit.hardening import plain_trigger

ELEVATION_REQUEST = """
IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'elevation requests are never deleted' USING ERRCODE = 'P0001';
END IF;
IF OLD.state IN ('approved', 'denied', 'withdrawn', 'expired')
   AND (NEW.state IS DISTINCT FROM OLD.state OR NEW.grant_id IS DISTINCT FROM OLD.grant_id) THEN
    RAISE EXCEPTION 'elevation request % is % and never reopens', OLD.uuid, OLD.state USING ERRCODE = 'P0001';
END IF;
RETURN NEW;
"""

BREAK_GLASS = """
IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'break-glass records are never deleted' USING ERRCODE = 'P0001';
END IF;
IF OLD.superseded_at IS NOT NULL AND NEW.superseded_at IS DISTINCT FROM OLD.superseded_at THEN
    RAISE EXCEPTION 'a superseded break-glass stays superseded' USING ERRCODE = '23514';
END IF;
IF OLD.closed_at IS NOT NULL
   AND (to_jsonb(NEW) - 'superseded_at') IS DISTINCT FROM (to_jsonb(OLD) - 'superseded_at') THEN
    RAISE EXCEPTION 'a closed break-glass review never changes' USING ERRCODE = '23514';
END IF;
IF NEW.closed_by_id IS NOT NULL AND (NEW.closed_by_id = NEW.person_id OR EXISTS (
        SELECT 1 FROM identities_ownership o
         WHERE o.identity_id = NEW.identity_id AND o.person_id = NEW.closed_by_id
           AND o.valid_from <= clock_timestamp()
           AND (o.valid_to IS NULL OR o.valid_to > clock_timestamp()))) THEN
    RAISE EXCEPTION 'only someone neither the person nor an owner closes a break-glass review'
        USING ERRCODE = '23514';
END IF;
IF (to_jsonb(NEW) - '{superseded_at,escalated_at,closed_at,closed_by_id,close_note}'::text[]) IS DISTINCT FROM
   (to_jsonb(OLD) - '{superseded_at,escalated_at,closed_at,closed_by_id,close_note}'::text[]) THEN
    RAISE EXCEPTION 'what a break-glass granted never changes' USING ERRCODE = '23514';
END IF;
RETURN NEW;
"""

RULE_CHANGE = """
IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'approval-rule changes are never deleted' USING ERRCODE = 'P0001';
END IF;
IF OLD.state IN ('applied', 'withdrawn') THEN
    RAISE EXCEPTION 'an approval-rule change that is % never changes', OLD.state USING ERRCODE = 'P0001';
END IF;
RETURN NEW;
"""


HARD_GUARDS = [
    plain_trigger(
        table="reviews_elevationrequest", name="elevation_request", operations="UPDATE OR DELETE",
        body=ELEVATION_REQUEST,
    ),
    plain_trigger(table="reviews_breakglass", name="break_glass", operations="UPDATE OR DELETE", body=BREAK_GLASS),
    plain_trigger(
        table="reviews_approvalrulechange", name="rule_change", operations="UPDATE OR DELETE", body=RULE_CHANGE
    ),
]  # fmt: skip


class Migration(migrations.Migration):
    dependencies = [
        ("reviews", "0003_break_glass_rule_changes"),
        ("audit", "0004_hard_guards"),
    ]

    operations = [
        pgtrigger.migrations.RemoveTrigger(
            model_name="breakglass",
            name="reviews_breakglass_closer",
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="breakglass",
            trigger=pgtrigger.compiler.Trigger(
                name="reviews_breakglass_closer",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    func="\n        IF OLD.superseded_at IS NOT NULL AND NEW.superseded_at IS DISTINCT FROM OLD.superseded_at THEN\n            RAISE EXCEPTION 'a superseded break-glass stays superseded' USING ERRCODE = '23514';\n        END IF;\n        IF OLD.closed_at IS NOT NULL\n           AND (to_jsonb(NEW) - 'superseded_at') IS DISTINCT FROM (to_jsonb(OLD) - 'superseded_at') THEN\n            RAISE EXCEPTION 'a closed break-glass review never changes' USING ERRCODE = '23514';\n        END IF;\n        IF NEW.closed_by_id IS NOT NULL AND EXISTS (\n                SELECT 1 FROM identities_ownership o\n                 WHERE o.identity_id = NEW.identity_id AND o.person_id = NEW.closed_by_id\n                   AND o.valid_from <= clock_timestamp()\n                   AND (o.valid_to IS NULL OR o.valid_to > clock_timestamp())) THEN\n            RAISE EXCEPTION 'an owner of the identity may not close its break-glass review' USING ERRCODE = '23514';\n        END IF;\n        IF NEW.identity_id IS DISTINCT FROM OLD.identity_id OR NEW.person_id IS DISTINCT FROM OLD.person_id\n           OR NEW.grant_id IS DISTINCT FROM OLD.grant_id OR NEW.reason IS DISTINCT FROM OLD.reason\n           OR NEW.started_at IS DISTINCT FROM OLD.started_at OR NEW.ends_at IS DISTINCT FROM OLD.ends_at THEN\n            RAISE EXCEPTION 'what a break-glass granted never changes' USING ERRCODE = '23514';\n        END IF;\n        RETURN NEW;\n    ",
                    hash="388b0cc93905d9b3ede64965baf7f39b276dff63",
                    operation="UPDATE",
                    pgid="pgtrigger_reviews_breakglass_closer_0e8dd",
                    table="reviews_breakglass",
                    when="BEFORE",
                ),
            ),
        ),
        *HARD_GUARDS,
    ]
