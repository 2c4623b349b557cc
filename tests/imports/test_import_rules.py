"""The registry import keeps its set-wise SQL for "who may change and grant what"; this pins it to
identities.rules: on a matrix of importers (roles) x how they stand to an identity (owner in some role, or
not) x its state x read or privileged access, the import refuses exactly the rows the rules refuse, with
the rules' reasons."""

from __future__ import annotations

from itertools import product

import pytest
from django.utils import timezone

from agentiam.permissions import Role
from identities import rules
from identities.imports.plan_registry import ERR_IDENTITY_NOT_YOURS
from identities.imports.runner import registry_import
from identities.rules import Right, Standing
from identities.services import ERR_IDENTITY_NOT_ACTIVE
from tests.cast import make_person
from tests.factories import IdentityFactory, OwnershipFactory
from tests.imports.test_registry_import import make_zip, problems

pytestmark = pytest.mark.django_db

IMPORTERS = {
    "administrator": (Role.ADMINISTRATOR,),
    "identity_owner": (Role.IDENTITY_OWNER,),
    "admin_and_owner": (Role.ADMINISTRATOR, Role.IDENTITY_OWNER),
}
OWNERSHIPS = (None, "accountable", "technical")
STATES = ("active", "suspended")


@pytest.fixture(autouse=True)
def uploads_in_tmp(settings, tmp_path):
    settings.VAR_DIR = tmp_path


@pytest.fixture
def catalogue(cast, tmp_path):
    files = {
        "systems__csv": [{"external_id": "sys", "name": "GitHub", "kind": "saas"}],
        "tools__csv": [
            {"external_id": "t", "system": "sys", "key": "github.pr", "name": "PRs", "actions": "read;write"}
        ],
    }
    assert registry_import(path=make_zip(tmp_path, "catalogue.zip", **files), actor=cast.administrator).ok


def estate_for(importer) -> list[tuple[str, Standing, str]]:
    """One identity per (ownership, state), owned as said by `importer`: (external id, standing, state)."""
    roles = frozenset(Role(g) for g in importer.groups.values_list("name", flat=True))
    made = []
    for ownership, state in product(OWNERSHIPS, STATES):
        ext = f"{importer.username}-{ownership or 'none'}-{state}"
        identity = IdentityFactory(external_id=ext, name=ext, status=state)
        if ownership:
            OwnershipFactory(identity=identity, person=importer, role=ownership, valid_from=timezone.now())
        made.append((ext, Standing(roles, frozenset({ownership}) if ownership else frozenset()), state))
    return made


@pytest.mark.parametrize("name", IMPORTERS)
def test_the_import_refuses_what_the_rules_refuse_and_says_why(cast, tmp_path, catalogue, name):
    importer = make_person(f"imp-{name}", *IMPORTERS[name])
    estate = estate_for(importer)
    identities, entitlements, expected = [], [], set()
    for ext, standing, state in estate:
        identities.append(
            {"external_id": ext, "kind": "agent", "name": ext, "environment": "dev", "description": "changed"}
        )
        if not rules.may(Right.CHANGE, standing):
            expected.add(("identities.csv", len(identities) + 1, "external_id", ERR_IDENTITY_NOT_YOURS))
        for action in ("read", "write"):
            entitlements.append({"external_id": f"e-{ext}-{action}", "identity": ext, "tool": "t", "action": action})
            line = len(entitlements) + 1
            if state != "active":
                expected.add(("entitlements.csv", line, "identity", ERR_IDENTITY_NOT_ACTIVE))
            right = Right.GRANT_READ if action == "read" else Right.GRANT_PRIVILEGED
            answer = rules.may(right, standing)
            if not answer:
                expected.add(("entitlements.csv", line, "identity" if action == "read" else "action", answer.reason))
    path = make_zip(tmp_path, f"{name}.zip", identities__csv=identities, entitlements__csv=entitlements)
    result = registry_import(path=path, actor=importer, dry_run=True)
    assert set(problems(result)) == expected
    assert expected, "the matrix refuses something for every importer"
