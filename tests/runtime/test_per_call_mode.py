"""Setting per-call re-authorisation (per identity or per risk tier): administrators and security analysts,
never on an identity they own, audited; the page and the API, with the permission matrix."""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import ValidationError

from agentiam.errors import PermissionDenied
from agentiam.permissions import SEE_EVERYTHING, Role
from audit.models import AuditEntry
from identities.runtime import services as runtime
from identities.runtime.models import PerCallMode
from tests.cast import check_access
from tests.factories import IdentityFactory, PerCallModeFactory

pytestmark = pytest.mark.django_db
WRITERS = [Role.ADMINISTRATOR, Role.SECURITY_ANALYST]


def test_a_security_analyst_turns_it_on_for_an_identity_and_it_is_audited(cast):
    agent = IdentityFactory(owner=cast.identity_owner)
    row = runtime.per_call_mode_create(actor=cast.security_analyst, identity=agent, description="prod writes")
    entry = AuditEntry.objects.get(action="per_call_mode.create")
    assert entry.object_id == str(row.uuid) and entry.changes == {"identity": str(agent.uuid), "risk_tier": None}
    runtime.config_disable(row=row, actor=cast.administrator, reason="done")
    assert AuditEntry.objects.filter(action="per_call_mode.disable").exists()


def test_nobody_sets_it_on_an_identity_they_own_and_other_roles_never(cast):
    mine = IdentityFactory(owner=cast.administrator)
    with pytest.raises(PermissionDenied, match="own"):
        runtime.per_call_mode_create(actor=cast.administrator, identity=mine)
    for person in (cast.manager, cast.auditor, cast.identity_owner):
        with pytest.raises(PermissionDenied):
            runtime.per_call_mode_create(actor=person, risk_tier="high")
    assert not PerCallMode.objects.exists()


@pytest.mark.parametrize(
    ("fields", "field"),
    [({}, "identity"), ({"risk_tier": "extreme"}, "risk_tier"), ({"risk_tier": "high", "identity": "x"}, "identity")],
)
def test_bad_input_names_the_field_and_writes_nothing(cast, fields, field):
    if fields.get("identity") == "x":
        fields = {**fields, "identity": IdentityFactory()}
    with pytest.raises(ValidationError) as raised:
        runtime.per_call_mode_create(actor=cast.administrator, **fields)
    assert field in raised.value.message_dict and not PerCallMode.objects.exists()


def test_one_enabled_setting_per_tier(cast):
    runtime.per_call_mode_create(actor=cast.administrator, risk_tier="critical")
    with pytest.raises(ValidationError):
        runtime.per_call_mode_create(actor=cast.security_analyst, risk_tier="critical")


def test_the_pages_permission_matrix(cast, client_factory):
    row = PerCallModeFactory(risk_tier="high", identity=None)
    check_access(client_factory, "/runtime/per-call-approval/", cast=cast, allowed=SEE_EVERYTHING)
    check_access(client_factory, "/runtime/per-call-approval/new/", cast=cast, allowed=WRITERS)
    check_access(client_factory, f"/runtime/per-call-approval/{row.uuid}/disable/", cast=cast, allowed=WRITERS)


def test_the_page_form_turns_it_on_for_a_tier(cast, client_factory):
    response = client_factory(cast.security_analyst).post("/runtime/per-call-approval/new/", {"risk_tier": "high"})
    assert response.status_code == 302 and PerCallMode.objects.get().risk_tier == "high"
    again = client_factory(cast.administrator).post("/runtime/per-call-approval/new/", {"risk_tier": "high"})
    assert again.status_code == 400 and "already on" in again.content.decode()


def test_the_api_matrix_and_an_owner_refused(cast, client_factory):
    mine = IdentityFactory(owner=cast.security_analyst)

    def body(who):
        return json.dumps({"risk_tier": "medium"} if who == "administrator" else {"risk_tier": "low"})

    statuses = check_access(
        client_factory, "/api/v1/runtime-config/per-call-approval/", cast=cast, allowed=WRITERS, method="post",
        data=body, expect_allowed=(201,),
    )  # fmt: skip
    assert statuses["security_analyst"] == 201
    check_access(client_factory, "/api/v1/runtime-config/per-call-approval/", cast=cast, allowed=SEE_EVERYTHING)
    own = client_factory(cast.security_analyst).post(
        "/api/v1/runtime-config/per-call-approval/", json.dumps({"identity": str(mine.uuid)}),
        content_type="application/json",
    )  # fmt: skip
    assert own.status_code == 403 and "own" in own.json()["detail"]
    row = PerCallMode.objects.get(risk_tier="low")
    check_access(
        client_factory, f"/api/v1/runtime-config/per-call-approval/{row.uuid}/disable/", cast=cast, allowed=WRITERS,
        method="post", data=json.dumps({"reason": "no longer"}), expect_allowed=(200, 409),
    )  # fmt: skip
