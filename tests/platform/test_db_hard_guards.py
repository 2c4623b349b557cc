"""Protections that must hold against the app role whatever session settings it uses (issue 9, class 12):
pgtrigger's triggers skip themselves when a session SETs `pgtrigger.ignore`, so signing keys, entitlements,
policy versions out of draft, acceptable-use versions and the append-only tables are also guarded by
privileges and plain triggers (audit.hardening). Every attempt below runs AS the app role after
`db_grants --apply`, with every pgtrigger trigger of the table named in `pgtrigger.ignore`."""

import psycopg
import pytest
from django.apps import apps
from django.db import connection

from audit.hardening import plain_triggers_on
from audit.models import SigningKey
from audit.privileges import append_only_models, column_limited_models
from identities.models import Entitlement
from identities.runtime.models import PolicyVersion
from identities.runtime.policy import BASELINE_POLICY, SCHEMA
from identities.runtime.policy.cases import baseline_cases
from tests.factories.people import PersonFactory
from tests.factories.registry import EntitlementFactory
from tests.factories.runtime import PolicyVersionFactory
from tests.platform.test_db_grants import _manage, _url_as
from tests.platform.test_db_grants import app_role as app_role  # the fixture
from tests.support import child_env, database_url

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

# Tables whose pgtrigger rules guard what security relies on, and what holds them against the app role.
HARD_GUARDED = {
    "audit_signingkey": "columns+trigger",
    "identities_entitlement": "columns+trigger",
    "runtime_policyversion": "trigger",
    # reviews' and per-call records (tests/platform/test_db_hard_guards_reviews.py)
    "reviews_elevationrequest": "trigger",
    "reviews_breakglass": "trigger",
    "reviews_approvalrulechange": "trigger",
    "runtime_callauthorisation": "trigger",
}
# Left to pgtrigger alone, and why that is enough (or not ours to change here).
SOFT_ONLY: dict[str, str] = {}
REFUSAL = r"permission denied|never|immutable|only|retired"
REFUSED = (psycopg.errors.InsufficientPrivilege, psycopg.errors.RaiseException)


def _pgtrigger_names(cursor, table: str) -> list[str]:
    cursor.execute("SELECT tgname FROM pg_trigger WHERE tgrelid = %s::regclass AND tgname LIKE 'pgtrigger_%%'", [table])
    return [name for (name,) in cursor.fetchall()]


def test_every_table_with_a_pgtrigger_rule_is_held_against_the_app_role_or_named_as_not():
    append_only = {m._meta.db_table for m in append_only_models()}
    limited = {m._meta.db_table for m in column_limited_models()}
    with connection.cursor() as cursor:
        for model in apps.get_models():
            table = model._meta.db_table
            if not getattr(model._meta, "triggers", None):
                continue
            covered = table in append_only or table in HARD_GUARDED or table in SOFT_ONLY
            assert covered, f"{table} has pgtrigger rules but nothing the app role cannot switch off"
            if "trigger" in HARD_GUARDED.get(table, ""):
                assert plain_triggers_on(connection, table), table
            if "columns" in HARD_GUARDED.get(table, ""):
                assert table in limited, table
        assert _pgtrigger_names(cursor, "audit_signingkey")


def _app(role):
    s = connection.settings_dict
    return psycopg.connect(host=s["HOST"], port=s["PORT"] or None, dbname=s["NAME"], user=role)


def test_the_app_role_cannot_skip_the_guards_with_pgtrigger_ignore_but_its_flows_still_work(app_role, tmp_path):
    env = child_env(
        DATABASE_URL=_url_as(app_role),
        DATABASE_OWNER_URL=database_url(),
        AUDIT_CHECKPOINT_SINK=str(tmp_path / "checkpoints.jsonl"),
    )
    applied = _manage("db_grants", app_role, "--apply", env=env)
    assert applied.returncode == 0, applied.stderr
    for _ in range(2):  # as the app role: the first key, then a second retiring it
        rotated = _manage("rotate_signing_key", "token", env=env)
        assert rotated.returncode == 0, rotated.stderr
    active = PolicyVersion.objects.filter(status="active").first() or PolicyVersionFactory(
        status="active",
        policy_text=BASELINE_POLICY.strip() + "\n",
        schema_text=SCHEMA.strip() + "\n",
        test_cases=[case.as_json() for case in baseline_cases()],
    )
    retired = PolicyVersionFactory(status="draft", parent=active)
    PolicyVersion.objects.filter(pk=retired.pk).update(status="retired")
    entitlement = EntitlementFactory(action="read")

    attempts = {
        "audit_signingkey": [
            "UPDATE audit_signingkey SET public_key = 'forged'",
            "UPDATE audit_signingkey SET kid = 'forged'",
            "UPDATE audit_signingkey SET status = 'active' WHERE status = 'retired'",
            "DELETE FROM audit_signingkey",
            "TRUNCATE audit_signingkey CASCADE",
        ],
        "runtime_policyversion": [
            "UPDATE runtime_policyversion SET policy_text = 'permit(principal, action, resource);' "
            "WHERE id = %(active)s",
            "UPDATE runtime_policyversion SET policy_text = 'permit(principal, action, resource);' "
            "WHERE id = %(retired)s",
            "UPDATE runtime_policyversion SET status = 'active' WHERE id = %(retired)s",
            "UPDATE runtime_policyversion SET status = 'draft' WHERE id = %(active)s",
            "DELETE FROM runtime_policyversion WHERE id IN (%(active)s, %(retired)s)",
        ],
        "identities_entitlement": [
            "UPDATE identities_entitlement SET action = 'admin' WHERE id = %(entitlement)s",
            "UPDATE identities_entitlement SET revoked_at = now(), action = 'admin' WHERE id = %(entitlement)s",
            "DELETE FROM identities_entitlement WHERE id = %(entitlement)s",
        ],
        "identities_acceptableuse": [
            "UPDATE identities_acceptableuse SET purpose = 'anything'",
            "DELETE FROM identities_acceptableuse",
        ],
        "audit_auditentry": ["UPDATE audit_auditentry SET action = 'forged'", "DELETE FROM audit_auditentry"],
        "runtime_policydecision": ["UPDATE runtime_policydecision SET decision = 'allow'"],
        "runtime_issuedtoken": ["DELETE FROM runtime_issuedtoken"],
        "runtime_tokenrevocation": ["DELETE FROM runtime_tokenrevocation"],
    }
    with connection.cursor() as cursor:
        ignore = {table: _pgtrigger_names(cursor, table) for table in attempts}
    ids = {"active": active.pk, "retired": retired.pk, "entitlement": entitlement.pk}
    key_before = list(SigningKey.objects.values_list("kid", "public_key", "status"))
    with _app(app_role) as app:
        for table, statements in attempts.items():
            for statement in statements:
                names = ",".join(ignore[table]) or "none"
                with pytest.raises(REFUSED, match=REFUSAL), app.transaction():
                    app.execute("SELECT set_config('pgtrigger.ignore', %s, true)", [f"{{{names}}}"])
                    app.execute(statement, ids if "%(" in statement else None)
                app.rollback()

    assert list(SigningKey.objects.values_list("kid", "public_key", "status")) == key_before
    assert PolicyVersion.objects.get(pk=active.pk).policy_text == active.policy_text
    assert Entitlement.objects.get(pk=entitlement.pk).action == "read"

    # The app's own flows, as the app role: retire a policy by activating a new one, revoke an entitlement,
    # rotate a key (which retires the old one).
    flows = f"""
from identities.models import Entitlement
from identities.runtime.models import PolicyVersion
from identities.runtime.services import entitlement_revoke
from identities.runtime.services.policies import policy_activate, policy_digest
from django.contrib.auth import get_user_model
admin = get_user_model().objects.get(pk={PersonFactory(roles=["administrator"]).pk})
draft = PolicyVersion.objects.get(pk={PolicyVersionFactory(parent=active).pk})
policy_activate(actor=admin, version=draft, digest=policy_digest(draft))
entitlement_revoke(entitlement=Entitlement.objects.get(pk={entitlement.pk}), actor=admin, reason="done")
print("flows ok")
"""
    result = _manage("shell", "-v", "0", "-c", flows, env=env)
    assert result.returncode == 0 and "flows ok" in result.stdout, result.stderr[-3000:]
    assert PolicyVersion.objects.get(pk=active.pk).status == "retired"
    assert Entitlement.objects.get(pk=entitlement.pk).revoked_at is not None
    rotated = _manage("rotate_signing_key", "token", env=env)
    assert rotated.returncode == 0, rotated.stderr
    assert SigningKey.objects.filter(purpose="token", status="retired").count() == 2
