"""Plain triggers (audit.hardening) that hold against the app role whatever it SETs: a policy version out
of draft never changes but for retiring it, and is never deleted; an entitlement changes only by being
revoked, once, and is never deleted. The pgtrigger triggers stay for their messages under the ORM."""

from django.db import migrations

from audit.hardening import plain_trigger

POLICY_VERSION = """
IF TG_OP = 'DELETE' THEN
    IF OLD.status IN ('active', 'retired') THEN
        RAISE EXCEPTION 'policy version % is % and is never deleted', OLD.number, OLD.status
            USING ERRCODE = 'P0001';
    END IF;
    RETURN OLD;
END IF;
IF OLD.status = 'retired' AND to_jsonb(NEW) IS DISTINCT FROM to_jsonb(OLD) THEN
    RAISE EXCEPTION 'policy version % is retired and never changes', OLD.number USING ERRCODE = 'P0001';
END IF;
IF OLD.status = 'active' AND (
    NEW.status NOT IN ('active', 'retired')
    OR (to_jsonb(NEW) - '{status,retired_at}'::text[]) IS DISTINCT FROM (to_jsonb(OLD) - '{status,retired_at}'::text[])
) THEN
    RAISE EXCEPTION 'policy version % is active: only retiring it is allowed', OLD.number USING ERRCODE = 'P0001';
END IF;
RETURN NEW;
"""

ENTITLEMENT = """
IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'entitlements are never deleted; revoke instead' USING ERRCODE = 'P0001';
END IF;
IF OLD.revoked_at IS NOT NULL THEN
    RAISE EXCEPTION 'entitlement % is already revoked', OLD.uuid USING ERRCODE = 'P0001';
END IF;
IF NEW.revoked_at IS NULL OR
   (to_jsonb(NEW) - '{revoked_at,revoked_by_id,revoke_reason}'::text[]) IS DISTINCT FROM
   (to_jsonb(OLD) - '{revoked_at,revoked_by_id,revoke_reason}'::text[]) THEN
    RAISE EXCEPTION 'entitlements are immutable: revoke and grant a new one' USING ERRCODE = 'P0001';
END IF;
RETURN NEW;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("runtime", "0005_proof_lifetime"),
        ("identities", "0005_grant_has_task"),
    ]

    operations = [
        plain_trigger(
            table="runtime_policyversion", name="policy_version", operations="UPDATE OR DELETE", body=POLICY_VERSION
        ),
        plain_trigger(
            table="identities_entitlement", name="entitlement", operations="UPDATE OR DELETE", body=ENTITLEMENT
        ),
    ]
