"""Registry import and export: all or nothing, idempotent by external id, the same "who grants what" as the
browser, a clear report for malformed input, set-wise risk that agrees with the services, the job, its
page, the commands and a real worker."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import signal
import zipfile
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from agentiam.digests import rows_digest
from agentiam.permissions import Role
from audit.models import AuditEntry
from identities import services
from identities.imports import plan_registry, refs
from identities.imports.export import registry_export
from identities.imports.jobs import import_job_create, import_job_run
from identities.imports.refresh import refresh_identities
from identities.imports.runner import registry_import
from identities.models import (
    Credential,
    Entitlement,
    Identifier,
    Identity,
    ImportJob,
    Ownership,
    RiskException,
    System,
    Tool,
    Workflow,
)
from identities.runtime.services import ending
from tests.cast import check_access, make_person
from tests.factories import ToolFactory
from tests.support import child_env, start_worker, wait_until

pytestmark = pytest.mark.django_db

FINGERPRINT = "ab" * 32


@pytest.fixture(autouse=True)
def uploads_in_tmp(settings, tmp_path):
    """Uploaded ZIPs wait under VAR_DIR/imports: keep this test's in its own folder."""
    settings.VAR_DIR = tmp_path


def csv_text(rows: list[dict]) -> str:
    out = io.StringIO()
    names = list(dict.fromkeys(name for row in rows for name in row))
    writer = csv.DictWriter(out, fieldnames=names, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def make_zip(tmp_path, name: str = "registry.zip", **files) -> str:
    """files: entity file name → a list of row dicts (CSV), a str (written as is) or bytes."""
    path = tmp_path / name
    with zipfile.ZipFile(path, "w") as archive:
        for member, content in files.items():
            member = member.replace("__", ".")
            if isinstance(content, list):
                content = csv_text(content) if member.endswith(".csv") else "\n".join(json.dumps(r) for r in content)
            archive.writestr(member, content)
    return str(path)


def estate_files(owner_email: str) -> dict:
    return {
        "persons__csv": [{"external_id": "p-oliver", "email": owner_email}],
        "systems__csv": [{"external_id": "sys-gh", "name": "GitHub", "kind": "saas"}],
        "tools__csv": [
            {"external_id": "t-pr", "system": "sys-gh", "key": "github.pr", "name": "PRs", "actions": "read;write"},
            {
                "external_id": "t-deploy",
                "system": "sys-gh",
                "key": "github.deploy",
                "name": "Deploy",
                "actions": "read;admin",
                "production": "true",
                "production_secrets": "true",
            },
        ],
        "identities__csv": [
            {
                "external_id": "bot-1",
                "kind": "agent",
                "name": "triage-bot",
                "environment": "dev",
                "owner": "p-oliver",
                "capabilities": "delegates",
                "parent": "",
            },
            {
                "external_id": "bot-2",
                "kind": "agent",
                "name": "sub-bot",
                "environment": "dev",
                "owner": "p-oliver",
                "capabilities": "",
                "parent": "bot-1",
            },
        ],
        "identifiers__csv": [
            {"external_id": "id-1", "identity": "bot-1", "kind": "spiffe", "value": "SPIFFE://acme.org/ns/triage"}
        ],
        "entitlements__csv": [
            {
                "external_id": "e-1",
                "identity": "bot-1",
                "tool": "t-pr",
                "action": "read",
                "scope": '{"repo": "acme/*"}',
            },
            {"external_id": "e-2", "identity": "bot-2", "tool": "t-pr", "action": "write", "scope": ""},
        ],
        "credentials__csv": [
            {
                "external_id": "c-1",
                "name": "gh token",
                "kind": "api_key",
                "fingerprint": FINGERPRINT,
                "issued_at": timezone.now().isoformat(),
                "holders": "bot-1;bot-2",
                "entitlements": "e-1",
            },
        ],
    }


def problems(result) -> list[tuple]:
    return [(p.file, p.line, p.field, p.message) for p in result.report.sorted_problems()]


def snapshot() -> dict:
    """Everything an import could change, by public id (timestamps included)."""
    return {
        "identities": list(Identity.objects.order_by("pk").values()),
        "identifiers": list(Identifier.objects.order_by("pk").values()),
        "ownerships": list(Ownership.objects.order_by("pk").values()),
        "systems": list(System.objects.order_by("pk").values()),
        "tools": list(Tool.objects.order_by("pk").values()),
        "entitlements": list(Entitlement.objects.order_by("pk").values()),
        "exceptions": list(RiskException.objects.order_by("pk").values()),
        "credentials": list(Credential.objects.order_by("pk").values()),
        "holders": list(Credential.holders.through.objects.order_by("pk").values()),
        "carried": list(Credential.entitlements.through.objects.order_by("pk").values()),
    }


# --- a full import ---------------------------------------------------------------------------------------------


def test_an_import_writes_the_estate_with_owners_risk_and_one_audit_entry(cast, tmp_path):
    path = make_zip(tmp_path, **estate_files(cast.identity_owner.email))
    result = registry_import(path=path, actor=cast.administrator)
    assert result.ok, problems(result)
    bot1, bot2 = Identity.objects.get(external_id="bot-1"), Identity.objects.get(external_id="bot-2")
    assert Ownership.objects.get(identity=bot1, role="accountable").person == cast.identity_owner
    assert bot2.parent == bot1 and bot2.delegation_depth == 1
    assert bot1.risk_tier == "medium" and bot2.risk_tier == "medium"  # delegates; standing write
    assert {"shared_credential", "aup_missing"} <= set(bot1.flags) and not bot1.is_orphaned
    assert Identifier.objects.get(external_id="id-1").value == "spiffe://acme.org/ns/triage"
    e1 = Entitlement.objects.get(external_id="e-1")
    assert e1.scope == {"repo": "acme/*"} and e1.source == "import" and e1.granted_by == cast.administrator
    assert list(Credential.objects.get(external_id="c-1").entitlements.all()) == [e1]
    entry = AuditEntry.objects.get(action="registry.import")
    assert entry.changes["sha256"] == result.sha256 and entry.changes["counts"]["identities"]["created"] == 2
    written = [("systems", "sys-gh"), ("tools", "t-pr"), ("tools", "t-deploy"), ("identities", "bot-1"),
               ("identities", "bot-2"), ("identifiers", "id-1"), ("entitlements", "e-1"), ("entitlements", "e-2"),
               ("credentials", "c-1")]  # fmt: skip
    assert entry.changes["rows"] == rows_digest([(entity, ext, "created") for entity, ext in written]).as_json()
    assert result.counts["entitlements"] == {
        "created": 2,
        "replaced": 0,
        "unchanged": 0,
        "revoked_not_granted": 0,
        "exceptions": 0,
        "tokens_revoked": 0,
    }


def test_importing_the_same_file_again_changes_nothing(cast, tmp_path):
    path = make_zip(tmp_path, **estate_files(cast.identity_owner.email))
    assert registry_import(path=path, actor=cast.administrator).ok
    before = snapshot()
    again = registry_import(path=path, actor=cast.administrator)
    assert again.ok and snapshot() == before
    assert again.counts["identities"]["unchanged"] == 2 and again.counts["risk_recomputed"] == 0
    assert AuditEntry.objects.filter(action="registry.import").count() == 2  # each import is recorded
    assert AuditEntry.objects.filter(action="registry.import").latest("id").changes["rows"] == {
        "count": 0,
        "sha256": hashlib.sha256(b"").hexdigest(),
    }


def test_a_dry_run_reports_what_would_change_and_writes_nothing(cast, tmp_path):
    path = make_zip(tmp_path, **estate_files(cast.identity_owner.email))
    before = snapshot()
    result = registry_import(path=path, actor=cast.administrator, dry_run=True)
    assert result.ok and result.counts["identities"]["created"] == 2 and result.counts["credentials"]["created"] == 1
    assert snapshot() == before and not AuditEntry.objects.filter(action="registry.import").exists()


def test_json_lines_import_like_csv(cast, tmp_path):
    files = {
        "identities.jsonl": [
            {
                "external_id": "j-1",
                "kind": "service_account",
                "name": "etl",
                "environment": "prod",
                "capabilities": ["internet_egress"],
                "exposure": "customer_facing",
            }
        ],
        "persons.jsonl": [{"external_id": "p", "email": cast.identity_owner.email}],
    }
    result = registry_import(path=make_zip(tmp_path, **files), actor=cast.administrator)
    assert result.ok, problems(result)
    identity = Identity.objects.get(external_id="j-1")
    assert identity.capabilities == ["internet_egress"] and identity.risk_tier == "high" and identity.is_orphaned


def test_export_then_import_of_the_export_changes_nothing(cast, tmp_path):
    # Objects made in the browser have no external ids: the export names them by public id.
    tool = ToolFactory(key="jira.search", actions=["read", "write"])
    agent = services.identity_create(actor=cast.identity_owner, kind="agent", name="ui-bot", environment="prod")
    services.identifier_add(identity=agent, actor=cast.identity_owner, kind="oidc_subject", value="https://idp|ui-bot")
    read = services.entitlement_grant(
        identity=agent, tool=tool, action="read", actor=cast.identity_owner, scope={"p": "A*"}
    )
    services.identity_update(identity=agent, actor=cast.identity_owner, capabilities=["modifies_infrastructure"])
    services.entitlement_grant(
        identity=agent,
        tool=tool,
        action="write",
        actor=cast.administrator,
        exception_reason="ok",
        exception_until=timezone.now() + timedelta(days=30),
    )
    services.credential_register(
        actor=cast.identity_owner,
        holders=[agent],
        entitlements=[read],
        name="k",
        kind="api_key",
        fingerprint="cd" * 32,
        issued_at=timezone.now(),
        expires_at=timezone.now() + timedelta(days=9),
    )
    assert registry_import(
        path=make_zip(tmp_path, **estate_files(cast.identity_owner.email)), actor=cast.administrator
    ).ok
    before = snapshot()
    exported = tmp_path / "export.zip"
    with open(exported, "wb") as target:
        counts = registry_export(target)
    assert counts["identities"] == 3 and counts["entitlements"] == 4
    result = registry_import(path=exported, actor=cast.administrator)
    assert result.ok, problems(result)
    assert snapshot() == before
    assert all(
        c.get("created", 0) == 0 and c.get("updated", 0) == 0 for c in result.counts.values() if isinstance(c, dict)
    )


# --- changes by external id -------------------------------------------------------------------------------------


@pytest.fixture
def imported(cast, tmp_path):
    files = estate_files(cast.identity_owner.email)
    assert registry_import(path=make_zip(tmp_path, "first.zip", **files), actor=cast.administrator).ok
    return files


def test_a_changed_entitlement_row_revokes_the_old_one_and_grants_a_new_one(cast, tmp_path, imported):
    old = Entitlement.objects.get(external_id="e-1")
    imported["entitlements__csv"][0]["scope"] = '{"repo": "acme/api"}'
    result = registry_import(path=make_zip(tmp_path, "second.zip", **imported), actor=cast.administrator)
    assert result.ok and result.counts["entitlements"]["replaced"] == 1
    entry = AuditEntry.objects.filter(action="registry.import").latest("id")
    assert entry.changes["rows"] == rows_digest([("entitlements", "e-1", "replaced")]).as_json()
    old.refresh_from_db()
    new = Entitlement.objects.get(external_id="e-1", revoked_at__isnull=True)
    assert old.revoked_at is not None and old.scope == {"repo": "acme/*"} and new.scope == {"repo": "acme/api"}
    assert list(Credential.objects.get(external_id="c-1").entitlements.filter(revoked_at__isnull=True)) == [new]


def test_a_row_naming_a_revoked_entitlement_is_reported_not_granted_again(cast, tmp_path, imported):
    ending.entitlement_revoke(
        entitlement=Entitlement.objects.get(external_id="e-2"), actor=cast.administrator, reason="unused"
    )
    result = registry_import(path=make_zip(tmp_path, "again.zip", **imported), actor=cast.administrator)
    assert result.ok and result.counts["entitlements"]["revoked_not_granted"] == 1
    notice = result.report.problems[0]
    assert (notice.level, notice.file, notice.line) == ("notice", "entitlements.csv", 3)
    assert not Entitlement.objects.filter(external_id="e-2", revoked_at__isnull=True).exists()


def test_a_value_another_row_holds_is_taken_and_a_repeat_in_the_file_names_the_first_line(cast, tmp_path, imported):
    identifier = Identifier.objects.get(external_id="id-1").value
    files = {
        "persons__csv": imported["persons__csv"],
        "identities__csv": imported["identities__csv"],
        "systems__csv": [{"external_id": "sys-2", "name": "GitHub", "kind": "saas"}],
        "tools__csv": [{"external_id": "t-2", "system": "sys-gh", "key": "github.pr", "name": "x", "actions": "read"}],
        "identifiers__csv": [
            {"external_id": "id-2", "identity": "bot-2", "kind": "spiffe", "value": identifier},
            {"external_id": "id-3", "identity": "bot-2", "kind": "spiffe", "value": "spiffe://acme.org/ns/x"},
            {"external_id": "id-4", "identity": "bot-2", "kind": "spiffe", "value": "spiffe://acme.org/ns/x"},
        ],
        "credentials__csv": [{**imported["credentials__csv"][0], "external_id": "c-2", "entitlements": ""}],
    }
    before = snapshot()
    found = problems(registry_import(path=make_zip(tmp_path, "taken.zip", **files), actor=cast.administrator))
    assert ("systems.csv", 2, "name", "A system named 'GitHub' already exists.") in found, found
    assert ("tools.csv", 2, "key", "A tool with the key 'github.pr' already exists.") in found, found
    assert ("identifiers.csv", 2, "value", "This identifier already belongs to an identity.") in found, found
    assert ("identifiers.csv", 4, "value", "Same value as line 3.") in found, found
    assert ("credentials.csv", 2, "fingerprint", "Another credential has this fingerprint.") in found, found
    assert snapshot() == before


def test_rows_absent_from_the_file_change_nothing_and_a_new_owner_is_a_transfer(cast, tmp_path, imported):
    other = make_person("maria", Role.IDENTITY_OWNER, email="maria@example.com")
    files = {
        "persons__csv": [{"external_id": "p-maria", "email": "MARIA@example.com"}],
        "identities__csv": [
            {"external_id": "bot-1", "kind": "agent", "name": "triage-bot", "environment": "dev", "owner": "p-maria"}
        ],
    }
    result = registry_import(path=make_zip(tmp_path, "owner.zip", **files), actor=cast.administrator)
    assert result.ok and result.counts["identities"]["owners_transferred"] == 1
    bot1 = Identity.objects.get(external_id="bot-1")
    assert services.owner_at(bot1, timezone.now()) == other
    assert bot1.capabilities == ["delegates"]  # the column is absent from this file: left as it was
    assert (
        Identity.objects.filter(external_id="bot-2").exists()
        and Entitlement.objects.filter(revoked_at=None).count() == 2
    )


# --- who grants what ---------------------------------------------------------------------------------------------


def test_an_owner_imports_read_access_for_their_own_identities_only(cast, tmp_path, imported, other_owner_agent):
    mine = {"entitlements__csv": [{"external_id": "e-9", "identity": "bot-1", "tool": "t-pr", "action": "read"}]}
    assert registry_import(path=make_zip(tmp_path, "a.zip", **mine), actor=cast.identity_owner).ok
    write = {"entitlements__csv": [{"external_id": "e-10", "identity": "bot-1", "tool": "t-pr", "action": "write"}]}
    result = registry_import(path=make_zip(tmp_path, "b.zip", **write), actor=cast.identity_owner)
    assert problems(result) == [("entitlements.csv", 2, "action", services.ERR_READ_ONLY_OWNER)]
    theirs = {
        "entitlements__csv": [
            {"external_id": "e-11", "identity": str(other_owner_agent.uuid), "tool": "t-pr", "action": "read"}
        ]
    }
    result = registry_import(path=make_zip(tmp_path, "c.zip", **theirs), actor=cast.identity_owner)
    unknown = refs.ERR_UNKNOWN_REF.format(label="identity", file="identities.csv", value=f"'{other_owner_agent.uuid}'")
    assert problems(result) == [("entitlements.csv", 2, "identity", unknown)]  # one they may not see: as no identity
    systems = {"systems__csv": [{"external_id": "sys-new", "name": "Slack", "kind": "saas"}]}
    result = registry_import(path=make_zip(tmp_path, "d.zip", **systems), actor=cast.identity_owner)
    assert problems(result)[0][2:] == ("external_id", "Only an administrator may change systems and tools.")


def test_an_owner_registers_identities_for_themselves_only(cast, tmp_path):
    other = make_person("maria", Role.IDENTITY_OWNER, email="maria@example.com")
    rows = [{"external_id": "mine", "kind": "agent", "name": "mine", "environment": "dev", "owner": ""}]
    assert registry_import(path=make_zip(tmp_path, "a.zip", identities__csv=rows), actor=cast.identity_owner).ok
    assert services.owner_at(Identity.objects.get(external_id="mine"), timezone.now()) == cast.identity_owner
    files = {
        "persons__csv": [{"external_id": "m", "email": other.email}],
        "identities__csv": [
            {"external_id": "for-maria", "kind": "agent", "name": "x", "environment": "dev", "owner": "m"}
        ],
    }
    result = registry_import(path=make_zip(tmp_path, "b.zip", **files), actor=cast.identity_owner)
    assert problems(result) == [("identities.csv", 2, "owner", plan_registry.ERR_OWNER_SELF)]
    with pytest.raises(PermissionDenied):
        registry_import(path=make_zip(tmp_path, "c.zip", **files), actor=cast.auditor)


@pytest.fixture
def other_owner_agent(db):
    other = make_person("other-owner", Role.IDENTITY_OWNER)
    return services.identity_create(actor=other, kind="agent", name="theirs", environment="dev")


def test_standing_write_on_an_identity_one_owns_is_refused_even_to_an_administrator(cast, tmp_path, imported):
    admin_owner = make_person("admin-owner", Role.ADMINISTRATOR, Role.IDENTITY_OWNER, email="ao@example.com")
    files = {
        "persons__csv": [{"external_id": "me", "email": "ao@example.com"}],
        "identities__csv": [
            {"external_id": "ao-bot", "kind": "agent", "name": "mine", "environment": "dev", "owner": "me"}
        ],
        "entitlements__csv": [{"external_id": "ao-e", "identity": "ao-bot", "tool": "t-pr", "action": "write"}],
    }
    result = registry_import(path=make_zip(tmp_path, "ao.zip", **files), actor=admin_owner)
    assert problems(result) == [("entitlements.csv", 2, "action", services.ERR_PRIVILEGED_NEEDS_ADMIN)]


def test_standing_write_on_a_high_risk_identity_needs_the_exception_columns(cast, tmp_path, imported):
    row = {"external_id": "e-hi", "identity": "bot-1", "tool": "t-deploy", "action": "admin"}
    result = registry_import(path=make_zip(tmp_path, "x.zip", entitlements__csv=[row]), actor=cast.administrator)
    assert problems(result)[0][:3] == ("entitlements.csv", 2, "exception_reason")
    assert "critical-risk" in problems(result)[0][3] or "high-risk" in problems(result)[0][3]
    until = (timezone.now() + timedelta(days=400)).isoformat()
    row |= {"exception_reason": "break-glass deploys", "exception_until": until}
    result = registry_import(path=make_zip(tmp_path, "y.zip", entitlements__csv=[row]), actor=cast.administrator)
    assert problems(result) == [("entitlements.csv", 2, "exception_until", services.ERR_EXCEPTION_UNTIL)]
    row["exception_until"] = (timezone.now() + timedelta(days=30)).isoformat()
    result = registry_import(path=make_zip(tmp_path, "z.zip", entitlements__csv=[row]), actor=cast.administrator)
    assert result.ok and result.counts["entitlements"]["exceptions"] == 1
    exception = RiskException.objects.get(entitlement__external_id="e-hi")
    assert exception.accepted_by == cast.administrator and exception.reason == "break-glass deploys"
    bot1 = Identity.objects.get(external_id="bot-1")
    assert bot1.risk_tier in ("high", "critical") and "unexcepted_privilege" not in bot1.flags


def test_the_command_line_without_a_person_cannot_accept_a_risk(cast, tmp_path, imported):
    row = {
        "external_id": "e-hi",
        "identity": "bot-1",
        "tool": "t-deploy",
        "action": "admin",
        "exception_reason": "x",
        "exception_until": (timezone.now() + timedelta(days=3)).isoformat(),
    }
    out = io.StringIO()
    with pytest.raises(CommandError, match="1 problem"):
        call_command("import_registry", make_zip(tmp_path, entitlements__csv=[row]), stdout=out)
    assert "run the import as an administrator" in out.getvalue()
    call_command(
        "import_registry",
        make_zip(tmp_path, "ok.zip", entitlements__csv=[row]),
        "--as",
        "cast-administrator",
        stdout=out,
    )
    assert Entitlement.objects.filter(external_id="e-hi", revoked_at=None).exists()


# --- malformed input ---------------------------------------------------------------------------------------------

IDENTITY_HEADER = "external_id,kind,name,environment,owner\n"


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        pytest.param(
            {"identities.csv": (IDENTITY_HEADER + "a,agent,caf\xe9,dev,\n").encode("latin-1")},
            ("identities.csv", 2, None, "Not UTF-8 text (an invalid byte on this line)."),
            id="wrong encoding",
        ),
        pytest.param(
            {"identities.csv": "external_id,kind,name\na,agent,x\n"},
            ("identities.csv", 1, "environment", "Missing column: environment is required."),
            id="missing column",
        ),
        pytest.param(
            {
                "persons.csv": "external_id,email\np,nobody@nowhere.example\n",
                "identities.csv": IDENTITY_HEADER + "a,agent,x,dev,p\n",
            },
            ("persons.csv", 2, "email", "No person has the e-mail address 'nobody@nowhere.example'."),
            id="unknown owner",
        ),
        pytest.param(
            {
                "identities.csv": IDENTITY_HEADER + "a,agent,x,dev,\n",
                "identifiers.csv": "external_id,identity,kind,value\ni,a,spiffe,spiffe://acme.org/a/../b\n",
            },
            ("identifiers.csv", 2, "value", "Invalid SPIFFE ID: the path must not have '.' or '..' segments."),
            id="bad SPIFFE ID",
        ),
        pytest.param(
            {"identities.csv": IDENTITY_HEADER + "a,agent,x,dev,\nb,agent,y,dev,\na,agent,z,dev,\n"},
            ("identities.csv", 4, "external_id", "Duplicate external id: line 2 has the same one."),
            id="duplicate",
        ),
        pytest.param(
            {"identities.csv": IDENTITY_HEADER + "a,agent,x,dev,,surplus\n"},
            ("identities.csv", 2, None, "Not a valid CSV row: extra data after last expected column."),
            id="junk row",
        ),
        pytest.param(
            {"identities.csv": IDENTITY_HEADER + "a,robot,x,moon,\n"},
            ("identities.csv", 2, "environment", "'moon' is not one of: dev, test, staging, prod."),
            id="bad enum",
        ),
        pytest.param(
            {"identities.csv": b"\x00\x01\x02binary junk"},
            ("identities.csv", 1, None, "A NUL character is not allowed."),
            id="binary junk",
        ),
        pytest.param(
            {"notes.txt": "hello"},
            (
                "notes.txt",
                None,
                None,
                "Unknown file: expected one of persons, systems, tools, identities, identifiers, "
                "entitlements, credentials, each .csv or .jsonl.",
            ),
            id="unknown file",
        ),
        pytest.param(
            {"identities.jsonl": '{"external_id": "' + "x" * (1 << 20) + '"}\n'},
            ("identities.jsonl", 1, None, "A line longer than 1048576 bytes."),
            id="endless json line",
        ),
        pytest.param(
            {"identities.jsonl": '{"external_id": "a", "kind": "agent"\n'},
            ("identities.jsonl", 1, None, "Not a JSON object: Expecting ',' delimiter: line 1 column 37 (char 36)."),
            id="broken json line",
        ),
        pytest.param(
            {"identities.jsonl": '{"external_id": ' + "[" * 5000 + "]" * 5000 + "}\n"},
            (
                "identities.jsonl",
                1,
                None,
                "Not a JSON object: The line nests arrays and objects deeper than 64 levels, the most this server "
                "accepts.",
            ),
            id="deep json line",
        ),
    ],
)
def test_malformed_input_gets_a_clear_report_and_writes_nothing(cast, tmp_path, files, expected):
    path = tmp_path / "bad.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    before = snapshot()
    result = registry_import(path=path, actor=cast.administrator)
    assert not result.ok
    assert expected in problems(result), problems(result)
    assert snapshot() == before and not AuditEntry.objects.filter(action="registry.import").exists()


def test_a_file_that_is_not_a_zip_is_reported(cast, tmp_path):
    path = tmp_path / "registry.zip"
    path.write_text("external_id,kind\n")
    assert problems(registry_import(path=path, actor=cast.administrator)) == [
        ("registry.zip", None, None, "The upload is not a ZIP archive.")
    ]


def test_a_parent_cycle_is_refused(cast, tmp_path):
    rows = [
        {"external_id": "a", "kind": "agent", "name": "a", "environment": "dev", "parent": "b"},
        {"external_id": "b", "kind": "agent", "name": "b", "environment": "dev", "parent": "a"},
    ]
    result = registry_import(path=make_zip(tmp_path, identities__csv=rows), actor=cast.administrator)
    assert ("identities.csv", 2, "parent", services.ERR_PARENT_CYCLE) in problems(result)


def test_one_bad_row_among_10000_writes_nothing_and_names_the_row_and_field(cast, tmp_path):
    ToolFactory(key="bulk.read", actions=["read"], external_id="t-bulk")
    identities = IDENTITY_HEADER + "".join(f"bulk-{i},service_account,svc-{i},test,\n" for i in range(1000))
    lines = ["external_id,identity,tool,action,scope"]
    for i in range(10_000):
        action = "delete" if i == 6_789 else "read"
        lines.append(f'e-{i},bulk-{i % 1000},t-bulk,{action},"{{""shard"": ""{i}""}}"')
    path = make_zip(tmp_path, **{"identities.csv": identities, "entitlements.csv": "\n".join(lines) + "\n"})
    result = registry_import(path=path, actor=cast.administrator)
    assert problems(result) == [
        ("entitlements.csv", 6_791, "action", "'delete' is not one of: read, write, admin, execute.")
    ]
    assert not Identity.objects.exists() and not Entitlement.objects.exists()
    good = path.replace("registry.zip", "fixed.zip")
    lines[6_790] = lines[6_790].replace(",delete,", ",read,")
    make_zip(tmp_path, "fixed.zip", **{"identities.csv": identities, "entitlements.csv": "\n".join(lines) + "\n"})
    assert registry_import(path=good, actor=cast.administrator).ok
    assert Entitlement.objects.count() == 10_000


# --- set-wise risk agrees with the service -----------------------------------------------------------------------


def test_set_wise_refresh_agrees_with_identity_refresh(cast, tmp_path):
    tool = ToolFactory(key="prod.secrets", actions=["read", "write", "admin"], production=True, production_secrets=True)
    other = ToolFactory(key="dev.tool", actions=["read", "write", "execute"])
    now = timezone.now()
    made = []
    for n, (env, exposure, caps) in enumerate(
        [
            ("dev", "internal", []),
            ("prod", "customer_facing", ["internet_egress", "long_term_memory"]),
            ("prod", "internal", ["generates_code"]),
            ("staging", "internal", ["delegates"]),
            ("prod", "internal", ["production_secrets", "modifies_infrastructure"]),
        ]
    ):
        identity = services.identity_create(
            actor=cast.identity_owner,
            kind="agent",
            name=f"r-{n}",
            environment=env,
            exposure=exposure,
            capabilities=caps,
        )
        made.append(identity)
    services.entitlement_grant(identity=made[0], tool=other, action="execute", actor=cast.administrator)
    services.entitlement_grant(identity=made[1], tool=tool, action="read", actor=cast.identity_owner)
    services.entitlement_grant(
        identity=made[2],
        tool=tool,
        action="admin",
        actor=cast.administrator,
        exception_reason="x",
        exception_until=now + timedelta(days=2),
    )
    services.aup_add_version(
        identity=made[3],
        actor=cast.identity_owner,
        purpose="p",
        allowed_tools=[],
        data_classes=[],
        valid_from=now - timedelta(days=10),
        valid_until=now - timedelta(days=1),
    )
    services.credential_register(
        actor=cast.identity_owner,
        holders=made[3:],
        name="old",
        kind="password",
        fingerprint=FINGERPRINT,
        issued_at=now - timedelta(days=200),
    )
    for workflow in ("w1", "w2"):
        services.workflow_attach(
            identity=made[4], workflow=Workflow.objects.create(name=workflow), actor=cast.identity_owner
        )
    services.tier_override_set(identity=made[0], actor=cast.administrator, tier="critical", reason="payroll")
    services.ownership_end(ownership=Ownership.objects.get(identity=made[1]), actor=cast.identity_owner, reason="left")
    fields = ["derived_tier", "risk_reasons", "risk_tier", "is_orphaned", "flags"]
    by_service = {i.pk: {f: getattr(i, f) for f in fields} for i in Identity.objects.all()}
    Identity.objects.update(derived_tier="low", risk_reasons=[], risk_tier="low", is_orphaned=False, flags=[])
    refresh_identities([i.pk for i in made])
    by_import = {i.pk: {f: getattr(i, f) for f in fields} for i in Identity.objects.all()}
    assert by_import == by_service
    assert {flag for row in by_service.values() for flag in row["flags"]} >= {
        "orphaned",
        "aup_missing",
        "aup_expired",
        "fan_out",
        "shared_credential",
        "old_static_secret",
    }


# --- the job, its page and a real worker -------------------------------------------------------------------------


class Upload(io.BytesIO):
    def __init__(self, path):
        super().__init__(open(path, "rb").read())  # noqa: SIM115
        self.name, self.size = "registry.zip", len(self.getvalue())

    def chunks(self):
        yield self.getvalue()


def test_the_progress_page_polls_until_the_job_is_done_and_then_shows_the_report(
    cast, client_factory, tmp_path, django_capture_on_commit_callbacks
):
    rows = [{"external_id": "x", "kind": "agent", "name": "x", "environment": "mars"}]
    with django_capture_on_commit_callbacks():
        job = import_job_create(actor=cast.identity_owner, upload=Upload(make_zip(tmp_path, identities__csv=rows)))
    page = f"/registry/imports/{job.uuid}/"
    other = make_person("other-owner", Role.IDENTITY_OWNER)
    check_access(
        client_factory,
        page,
        cast=cast,
        allowed=[Role.ADMINISTRATOR, Role.IDENTITY_OWNER, Role.COMPLIANCE_OFFICER, Role.SECURITY_ANALYST, Role.AUDITOR],
        object_denied=[other],
    )
    client = client_factory(cast.identity_owner)
    assert 'hx-trigger="every 2s"' in client.get(page).content.decode()
    assert import_job_run(job.pk) == "failed"
    html = client.get(page, HTTP_HX_REQUEST="true").content.decode()
    assert "hx-trigger" not in html and "<html" not in html
    assert "nothing was written" in html and "mars" in html and "environment" in html


def test_the_import_page_uploads_a_file_for_owners_and_administrators(cast, client_factory, tmp_path):
    check_access(
        client_factory,
        "/registry/imports/",
        cast=cast,
        allowed=[Role.ADMINISTRATOR, Role.IDENTITY_OWNER, Role.COMPLIANCE_OFFICER, Role.SECURITY_ANALYST, Role.AUDITOR],
    )
    path = make_zip(
        tmp_path, identities__csv=[{"external_id": "u", "kind": "agent", "name": "u", "environment": "dev"}]
    )
    with open(path, "rb") as upload:
        response = client_factory(cast.administrator).post("/registry/imports/", {"file": upload, "dry_run": "on"})
    job = ImportJob.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/registry/imports/{job.uuid}/" and job.dry_run
    with open(path, "rb") as upload:
        assert client_factory(cast.auditor).post("/registry/imports/", {"file": upload}).status_code == 403


def test_export_registry_writes_a_zip_that_import_registry_accepts(cast, tmp_path, imported):
    target = tmp_path / "out.zip"
    err = io.StringIO()
    call_command("export_registry", str(target), stderr=err)
    assert "identities 2" in err.getvalue()
    out = io.StringIO()
    call_command("import_registry", str(target), "--dry-run", "--as", "cast-administrator", stdout=out)
    assert "Dry run" in out.getvalue() and "OK" in out.getvalue() and "unchanged 2" in out.getvalue()


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_worker_process_runs_an_uploaded_import(cast, redis_client, tmp_path):
    rows = [{"external_id": "w-1", "kind": "agent", "name": "from-the-worker", "environment": "dev"}]
    job = import_job_create(actor=cast.administrator, upload=Upload(make_zip(tmp_path, identities__csv=rows)))
    worker = start_worker(child_env(), tmp_path / "worker.log")
    try:
        wait_until(
            lambda: ImportJob.objects.filter(pk=job.pk, status="succeeded").exists(), timeout=90, what="the import job"
        )
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=30)
    assert Identity.objects.filter(external_id="w-1", name="from-the-worker").exists()
    assert "identities.tasks.run_import_job" in (tmp_path / "worker.log").read_text()
    with connection.cursor() as cursor:  # the uploaded ZIP is gone once done
        cursor.execute("SELECT path FROM identities_importjob WHERE id = %s", [job.pk])
        from pathlib import Path

        assert not Path(cursor.fetchone()[0]).exists()


# --- in a browser -------------------------------------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_an_administrator_uploads_a_registry_and_watches_it_import(live_server, page, tmp_path):
    import os
    from pathlib import Path

    from django.conf import settings
    from django.test import Client
    from playwright.sync_api import expect

    from tests.conftest import ARTIFACTS
    from tests.support import sign_in

    shots = Path(os.environ.get("AGENTIAM_SCREENSHOT_DIR") or ARTIFACTS / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    admin = make_person("priya", Role.ADMINISTRATOR, first_name="Priya", last_name="Raman")
    owner = make_person(
        "oliver", Role.IDENTITY_OWNER, first_name="Oliver", last_name="Grant", email="oliver@acme.example"
    )
    client = Client()
    sign_in(client, admin)
    page.context.add_cookies(
        [
            {
                "name": settings.SESSION_COOKIE_NAME,
                "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                "url": live_server.url,
            }
        ]
    )
    files = estate_files(owner.email)
    good = make_zip(tmp_path, "acme-registry.zip", **files)
    files["entitlements__csv"][1]["action"] = "delete"
    files["identifiers__csv"][0]["value"] = "spiffe://acme.org/ns/../triage"
    bad = make_zip(tmp_path, "acme-registry-broken.zip", **files)

    page.goto(f"{live_server.url}/registry/imports/")
    expect(page.get_by_role("heading", name="Import and export")).to_be_visible()
    page.set_input_files("input[name=file]", bad)
    page.get_by_role("button", name="Upload and check").click()
    expect(page.get_by_role("heading", name="acme-registry-broken.zip")).to_be_visible()
    expect(page.locator(".import-steps li.current")).to_have_text("Queued")
    page.screenshot(path=str(shots / "registry_import_queued.png"), full_page=True)
    import_job_run(ImportJob.objects.get(filename="acme-registry-broken.zip").pk)
    expect(page.get_by_text("2 problems found; nothing was written.")).to_be_visible(timeout=10_000)
    expect(page.locator(".report-table")).to_contain_text("'delete' is not one of")
    expect(page.locator("#import-status")).not_to_have_attribute("hx-trigger", "every 2s")
    page.screenshot(path=str(shots / "registry_import_report.png"), full_page=True)

    page.goto(f"{live_server.url}/registry/imports/")
    page.set_input_files("input[name=file]", good)
    page.get_by_label("Dry run: check everything and report what would change, write nothing").uncheck()
    page.get_by_role("button", name="Upload and check").click()
    import_job_run(ImportJob.objects.get(filename="acme-registry.zip").pk)
    expect(page.get_by_text("Imported.")).to_be_visible(timeout=10_000)
    expect(page.get_by_role("heading", name="What changed")).to_be_visible()
    page.screenshot(path=str(shots / "registry_import_done.png"), full_page=True)
    assert Identity.objects.filter(external_id="bot-1").exists()
    page.goto(f"{live_server.url}/registry/imports/")
    expect(page.locator("table")).to_contain_text("Problems found")
    page.screenshot(path=str(shots / "registry_import_list.png"), full_page=True)
