"""A plain trigger (audit.hardening) that holds against the app role whatever it SETs (issue 9, class 12): a
per-call authorisation's state only moves forward, its decider is never the identity's person or a current
owner and is an active person, and it is never deleted — the same rules as the pgtrigger trigger, which stays
for its messages under the ORM."""

from django.db import migrations

from audit.hardening import plain_trigger

CALL_AUTHORISATION = """
IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'call authorisations are never deleted' USING ERRCODE = 'P0001';
END IF;
IF OLD.state IN ('denied', 'consumed') AND (NEW IS DISTINCT FROM OLD) THEN
    RAISE EXCEPTION 'a % call authorisation never changes', OLD.state USING ERRCODE = '23514';
END IF;
IF OLD.state = 'approved' AND NEW.state NOT IN ('approved', 'consumed') THEN
    RAISE EXCEPTION 'an approved call authorisation can only be used' USING ERRCODE = '23514';
END IF;
IF OLD.state = 'approved' AND (NEW.decided_by_id IS DISTINCT FROM OLD.decided_by_id
                               OR NEW.valid_until IS DISTINCT FROM OLD.valid_until) THEN
    RAISE EXCEPTION 'an approval is not rewritten' USING ERRCODE = '23514';
END IF;
IF OLD.state = 'pending' AND NEW.state = 'consumed' THEN
    RAISE EXCEPTION 'a pending call authorisation cannot be used' USING ERRCODE = '23514';
END IF;
IF OLD.state = 'pending' AND NEW.state IN ('approved', 'denied') THEN
    IF NEW.decided_by_id IS NULL THEN
        RAISE EXCEPTION 'a decision names who decided' USING ERRCODE = '23514';
    END IF;
    IF EXISTS (SELECT 1 FROM identities_identity i
                WHERE i.id IN (NEW.identity_id, NEW.actor_id) AND i.person_id = NEW.decided_by_id) THEN
        RAISE EXCEPTION 'nobody decides calls made as themselves' USING ERRCODE = '23514';
    END IF;
    IF EXISTS (SELECT 1 FROM identities_ownership o
                WHERE o.identity_id = NEW.identity_id AND o.person_id = NEW.decided_by_id
                  AND o.valid_from <= clock_timestamp()
                  AND (o.valid_to IS NULL OR o.valid_to > clock_timestamp())) THEN
        RAISE EXCEPTION 'an owner of the identity may not decide its calls' USING ERRCODE = '23514';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM auth_user u WHERE u.id = NEW.decided_by_id AND u.is_active) THEN
        RAISE EXCEPTION 'only an active person decides' USING ERRCODE = '23514';
    END IF;
END IF;
RETURN NEW;
"""


class Migration(migrations.Migration):
    dependencies = [("runtime", "0007_per_call")]

    operations = [
        plain_trigger(
            table="runtime_callauthorisation", name="call_authorisation", operations="UPDATE OR DELETE",
            body=CALL_AUTHORISATION,
        ),
    ]  # fmt: skip
