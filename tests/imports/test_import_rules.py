"""The registry import keeps its set-wise SQL for "who may change and grant what"; this pins it to
identities.rules: on a matrix of importers (roles) x how they stand to an identity (owner in some role, or
not) x its state x read or privileged access, the import refuses exactly the rows the rules refuse, with
the rules' reasons. An identity the importer may not see (Right.VIEW) is reported exactly as one that does
not exist, in every file that can name it, and nothing else is said about it."""

from __future__ import annotations

from itertools import product

import pytest
from django.utils import timezone

from agentiam.permissions import Role
from identities import rules
from identities.imports.hidden import ERR_EXTERNAL_ID_TAKEN
from identities.imports.plan_registry import ERR_IDENTITY_NOT_YOURS
from identities.imports.runner import registry_import
from identities.models import Identity
from identities.rules import Right, Standing
from identities.services import ERR_IDENTITY_NOT_ACTIVE
from tests.cast import make_person
from tests.factories import IdentityFactory, OwnershipFactory
from tests.imports.test_registry_import import FINGERPRINT, make_zip, problems

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
        if not rules.may(Right.VIEW, standing):
            continue  # reported as unknown: test_an_identity_you_may_not_see_is_reported_as_unknown
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


# --- what the importer may not see -----------------------------------------------------------------------------

HIDDEN = "theirs"  # another owner's identity, with an identifier, an entitlement and a credential
GHOST = "nobody"  # no such identity
GHOST_UUID = "00000000-0000-4000-8000-000000000000"


@pytest.fixture
def theirs(cast, tmp_path, catalogue):
    files = {
        "persons__csv": [{"external_id": "p-other", "email": cast.identity_owner.email}],
        "identities__csv": [
            {"external_id": HIDDEN, "kind": "agent", "name": "Theirs", "environment": "dev", "owner": "p-other"}
        ],
        "identifiers__csv": [
            {"external_id": "id-theirs", "identity": HIDDEN, "kind": "spiffe", "value": "spiffe://acme.org/theirs"}
        ],
        "entitlements__csv": [{"external_id": "e-theirs", "identity": HIDDEN, "tool": "t", "action": "read"}],
        "credentials__csv": [credential("c-theirs", HIDDEN, "e-theirs")],
    }
    assert registry_import(path=make_zip(tmp_path, "theirs.zip", **files), actor=cast.administrator).ok
    return Identity.objects.get(external_id=HIDDEN)


def credential(ext: str, holders: str, entitlements: str = "", fingerprint: str = FINGERPRINT) -> dict:
    return {
        "external_id": ext,
        "name": "token",
        "kind": "api_key",
        "fingerprint": fingerprint,
        "issued_at": timezone.now().isoformat(),
        "holders": holders,
        "entitlements": entitlements,
    }


def naming(identity: str, entitlement: str) -> dict:
    """One upload per file that can name an identity (or its entitlement), each naming `identity`."""
    mine = {"external_id": "mine", "kind": "agent", "name": "Mine", "environment": "dev"}
    return {
        "identities (parent)": {"identities__csv": [{**mine, "parent": identity}]},
        "identifiers": {
            "identities__csv": [mine],
            "identifiers__csv": [
                {"external_id": "id-new", "identity": identity, "kind": "spiffe", "value": "spiffe://acme.org/new"}
            ],
        },
        "entitlements (read)": {
            "entitlements__csv": [{"external_id": "e-new", "identity": identity, "tool": "t", "action": "read"}]
        },
        "entitlements (write)": {
            "entitlements__csv": [{"external_id": "e-new", "identity": identity, "tool": "t", "action": "write"}]
        },
        "credentials (holder)": {
            "credentials__csv": [credential("c-new", identity, fingerprint="ef" * 32)],
        },
        "credentials (entitlement)": {
            "identities__csv": [mine],
            "credentials__csv": [credential("c-new", "mine", entitlement, fingerprint="ef" * 32)],
        },
    }


def report(tmp_path, importer, name, files) -> set[tuple]:
    path = make_zip(tmp_path, f"{name}.zip".replace(" ", "_"), **files)
    return set(problems(registry_import(path=path, actor=importer, dry_run=True)))


def test_an_identity_you_may_not_see_is_reported_as_unknown(cast, tmp_path, theirs):
    importer = make_person("imp-stranger", Role.IDENTITY_OWNER)
    hidden = {**naming(HIDDEN, "e-theirs"), **naming(str(theirs.uuid), str(theirs.entitlements.get().uuid))}
    ghost = {**naming(GHOST, "e-nobody"), **naming(GHOST_UUID, GHOST_UUID)}
    fakes = {str(theirs.uuid): GHOST_UUID, str(theirs.entitlements.get().uuid): GHOST_UUID, HIDDEN: GHOST}
    for (name, files), ghost_files in zip(hidden.items(), ghost.values(), strict=True):
        seen = report(tmp_path, importer, name, files)
        unknown = report(tmp_path, importer, f"ghost-{name}", ghost_files)
        for real, fake in fakes.items():  # HIDDEN -> GHOST also turns e-theirs into e-nobody
            seen = {(f, line, field, msg.replace(real, fake)) for f, line, field, msg in seen}
        assert seen == unknown, name
        assert unknown, f"{name}: an unknown reference is reported"
        assert not any(ERR_IDENTITY_NOT_YOURS in p[3] or "already" in p[3] for p in seen), name


def test_taking_the_external_id_of_what_you_may_not_see_says_only_that_it_is_taken(cast, tmp_path, theirs):
    importer = make_person("imp-stranger", Role.IDENTITY_OWNER)
    mine = {"external_id": "mine", "kind": "agent", "name": "Mine", "environment": "dev"}
    files = {
        "identities__csv": [mine, {**mine, "external_id": HIDDEN, "name": "Not theirs"}],
        "identifiers__csv": [
            {"external_id": "id-theirs", "identity": "mine", "kind": "spiffe", "value": "spiffe://acme.org/mine"}
        ],
        "entitlements__csv": [{"external_id": "e-theirs", "identity": "mine", "tool": "t", "action": "read"}],
        "credentials__csv": [credential("c-theirs", "mine", fingerprint="cd" * 32)],
    }
    taken = ERR_EXTERNAL_ID_TAKEN.replace("{value}", "'{}'")
    assert report(tmp_path, importer, "taken", files) == {
        ("identities.csv", 3, "external_id", taken.format(HIDDEN)),
        ("identifiers.csv", 2, "external_id", taken.format("id-theirs")),
        ("entitlements.csv", 2, "external_id", taken.format("e-theirs")),
        ("credentials.csv", 2, "external_id", taken.format("c-theirs")),
    }
