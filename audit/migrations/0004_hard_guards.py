"""A plain trigger (audit.hardening) on signing keys that holds against the app role whatever it SETs: what
a key is never changes, a key is never deleted, its status only moves forward. The audit trail's own
tables need none: the app role holds only SELECT and INSERT on them (audit.privileges)."""

from django.db import migrations

from audit.hardening import plain_trigger

SIGNING_KEY = """
IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'signing key % is never deleted', OLD.kid USING ERRCODE = 'P0001';
END IF;
IF (NEW.kid, NEW.purpose, NEW.public_key, NEW.created_at) IS DISTINCT FROM
   (OLD.kid, OLD.purpose, OLD.public_key, OLD.created_at) THEN
    RAISE EXCEPTION 'signing key % : kid, purpose, public key and creation time never change', OLD.kid
        USING ERRCODE = 'P0001';
END IF;
IF (OLD.status IN ('retired', 'compromised') AND NEW.status = 'active')
   OR (OLD.status = 'compromised' AND NEW.status <> 'compromised') THEN
    RAISE EXCEPTION 'signing key % is %: its status only moves forward', OLD.kid, OLD.status
        USING ERRCODE = 'P0001';
END IF;
RETURN NEW;
"""


class Migration(migrations.Migration):
    dependencies = [("audit", "0003_security_events")]

    operations = [
        plain_trigger(table="audit_signingkey", name="signing_key", operations="UPDATE OR DELETE", body=SIGNING_KEY),
    ]
