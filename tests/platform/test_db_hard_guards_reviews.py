"""The records of who asked, who decided and who broke the glass hold against the app role too (issue 9, class
12): as the app role after `db_grants --apply`, with every pgtrigger trigger of the table named in
`pgtrigger.ignore`, a closed elevation request cannot be reopened, a closed break-glass review cannot be
rewritten or closed by its own person, an applied rule change cannot be edited, a used per-call approval cannot
be used again, and none of them can be deleted."""

from datetime import timedelta

import psycopg
import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from reviews.models import BreakGlass, ElevationRequest
from tests.factories.people import UserFactory
from tests.factories.registry import OwnershipFactory
from tests.factories.reviews import ApprovalRuleChangeFactory, BreakGlassFactory, ElevationRequestFactory
from tests.factories.runtime import CallAuthorisationFactory
from tests.platform.test_db_grants import _manage, _url_as
from tests.platform.test_db_grants import app_role as app_role  # the fixture
from tests.platform.test_db_hard_guards import REFUSED, _app, _pgtrigger_names
from tests.support import child_env, database_url

REFUSED_HERE = (*REFUSED, psycopg.errors.CheckViolation)

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_closed_review_records_hold_against_the_app_role_whatever_it_sets(app_role, tmp_path):
    env = child_env(
        DATABASE_URL=_url_as(app_role),
        DATABASE_OWNER_URL=database_url(),
        AUDIT_CHECKPOINT_SINK=str(tmp_path / "checkpoints.jsonl"),
    )
    applied = _manage("db_grants", app_role, "--apply", env=env)
    assert applied.returncode == 0, applied.stderr

    denied = ElevationRequestFactory(state="denied", decided_at=timezone.now())
    glass = BreakGlassFactory(closed_at=timezone.now(), closed_by=UserFactory(), close_note="looked at")
    open_glass = BreakGlassFactory()
    owner = OwnershipFactory(identity=open_glass.identity).person
    change = ApprovalRuleChangeFactory(state="applied", decided_by=UserFactory(), decided_at=timezone.now())
    now = timezone.now()
    used = CallAuthorisationFactory(
        state="consumed", decided_by=UserFactory(), decided_at=now, valid_until=now + timedelta(minutes=5),
        consumed_at=now,
    )  # fmt: skip
    ids = {
        "denied": denied.pk, "glass": glass.pk, "open_glass": open_glass.pk, "owner": owner.pk,
        "person": open_glass.person_id, "change": change.pk, "used": used.pk,
    }  # fmt: skip
    attempts = {
        "reviews_elevationrequest": [
            "UPDATE reviews_elevationrequest SET state = 'pending' WHERE id = %(denied)s",
            "DELETE FROM reviews_elevationrequest WHERE id = %(denied)s",
        ],
        "reviews_breakglass": [
            "UPDATE reviews_breakglass SET close_note = 'nothing to see' WHERE id = %(glass)s",
            "UPDATE reviews_breakglass SET closed_at = NULL, closed_by_id = NULL WHERE id = %(glass)s",
            "UPDATE reviews_breakglass SET closed_at = now(), closed_by_id = %(owner)s WHERE id = %(open_glass)s",
            "UPDATE reviews_breakglass SET ends_at = ends_at + interval '1 minute' WHERE id = %(open_glass)s",
            "DELETE FROM reviews_breakglass WHERE id = %(open_glass)s",
        ],
        "reviews_approvalrulechange": [
            "UPDATE reviews_approvalrulechange SET reason = 'forged' WHERE id = %(change)s",
            "DELETE FROM reviews_approvalrulechange WHERE id = %(change)s",
        ],
        "runtime_callauthorisation": [
            "UPDATE runtime_callauthorisation SET state = 'approved', consumed_at = NULL WHERE id = %(used)s",
            "DELETE FROM runtime_callauthorisation WHERE id = %(used)s",
        ],
    }
    with connection.cursor() as cursor:
        ignore = {table: _pgtrigger_names(cursor, table) for table in attempts}
    for table, names in ignore.items():
        assert names, f"{table} should still carry its pgtrigger rules (their messages under the ORM)"
    with _app(app_role) as app:
        for table, statements in attempts.items():
            for statement in statements:
                with pytest.raises(REFUSED_HERE, match=r"never|only|permission denied"), app.transaction():
                    app.execute("SELECT set_config('pgtrigger.ignore', %s, true)", [f"{{{','.join(ignore[table])}}}"])
                    app.execute(statement, ids)
                app.rollback()

    assert ElevationRequest.objects.get(pk=denied.pk).state == "denied"
    assert BreakGlass.objects.get(pk=glass.pk).close_note == "looked at"
    assert BreakGlass.objects.get(pk=open_glass.pk).closed_at is None


def test_a_closed_break_glass_can_still_be_superseded_once_by_a_later_one():
    """Closing the review must not block the next emergency: a later break-glass marks the closed one
    superseded (once) when its grant is over — and nothing else of a closed record moves."""
    glass = BreakGlassFactory(closed_at=timezone.now(), closed_by=UserFactory(), close_note="fine")
    BreakGlass.objects.filter(pk=glass.pk).update(superseded_at=timezone.now())
    assert BreakGlass.objects.get(pk=glass.pk).superseded_at is not None
    with pytest.raises(IntegrityError, match="stays superseded"), transaction.atomic():
        BreakGlass.objects.filter(pk=glass.pk).update(superseded_at=None)
