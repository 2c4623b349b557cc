"""A large registry for benchmarks: `scale_registry(n)` writes n identities with owners and identifiers,
10 standing entitlements and 2 credentials each (1M and 200k for n = 100,000), over 50 systems and 500
tools, with COPY. Called by `identities.seeds.scale` (`manage.py seed_demo --scale N`), after the scale
persons exist; resumable: a second call adds only the identities that are missing.

Rows get explicit primary keys (the identity columns are BY DEFAULT) so no id has to be read back, and
risk tiers, orphan state and flags are computed at the end by the set-wise refresh the import uses.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta

from django.contrib.auth.models import Group
from django.db import connection, transaction
from django.utils import timezone

from agentiam.permissions import Role
from identities.imports.refresh import refresh_identities

PREFIX = "scale-id-"
SYSTEMS, TOOLS_PER_SYSTEM = 50, 10
ENTITLEMENTS_PER_IDENTITY, CREDENTIALS_PER_IDENTITY = 10, 2
IDENTITIES_PER_OWNER = 20
ORPHAN_EVERY = 33  # about 3% of identities have no accountable owner
CHUNK = 20_000

KINDS = ["agent"] * 12 + ["service_account"] * 7 + ["human"]
ENVIRONMENTS = ["dev", "test", "staging", "prod", "prod"]
HOSTING = ["aws", "gcp", "azure", "on_prem", "other"]
CAPABILITY_SETS = [
    [],
    [],
    [],
    ["internet_egress"],
    ["generates_code"],
    ["delegates"],
    ["long_term_memory"],
    ["modifies_infrastructure"],
    ["generates_code", "internet_egress"],
    ["production_secrets"],
]
ACTION_MIX = ["read"] * 16 + ["write"] * 2 + ["execute", "admin"]
STORAGE = ["vault", "managed_identity", "env_var", "secrets_manager", "file"]
CREDENTIAL_KINDS = ["api_key", "oauth_client_secret", "x509_svid", "jwt_svid", "ssh_key"]


def _next_id(cursor, table: str) -> int:
    cursor.execute(f"SELECT COALESCE(max(id), 0) + 1 FROM {table}")  # noqa: S608 - our own table names
    return cursor.fetchone()[0]


def _sync_sequence(cursor, table: str) -> None:
    cursor.execute(
        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT COALESCE(max(id), 1) FROM {table}))"  # noqa: S608
    )


def _copy(cursor, table: str, columns: str, lines: Iterator[str]) -> int:
    """COPY text-format lines (tab-separated, \\N for NULL) in large writes."""
    count, buffer = 0, []
    with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for line in lines:
            buffer.append(line)
            count += 1
            if len(buffer) >= CHUNK:
                copy.write("".join(buffer))
                buffer.clear()
        if buffer:
            copy.write("".join(buffer))
    return count


def _array(values: list[str]) -> str:
    return "{" + ",".join(values) + "}"


def scale_registry(n: int, out) -> None:
    started = time.monotonic()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM identities_identity WHERE external_id LIKE %s", [PREFIX + "%"])
        existing = cursor.fetchone()[0]
        if existing >= n:
            out.write(f"registry: {existing} scale identities already there")
            return
        tools = _catalogue(cursor)
        owners = _owners(cursor, n)
        new_ids = _write(cursor, range(existing, n), tools, owners)
        for table in (
            "identities_identity",
            "identities_identifier",
            "identities_ownership",
            "identities_entitlement",
            "identities_credential",
            "identities_credential_holders",
            "identities_credential_entitlements",
        ):
            _sync_sequence(cursor, table)
        written = time.monotonic() - started
        refresh_identities(new_ids)
    out.write(
        f"registry: {len(new_ids)} identities, {len(new_ids) * ENTITLEMENTS_PER_IDENTITY} entitlements, "
        f"{len(new_ids) * CREDENTIALS_PER_IDENTITY} credentials written in {written:.1f} s, "
        f"risk computed in {time.monotonic() - started - written:.1f} s"
    )


def _catalogue(cursor) -> list[tuple[int, list[str], bool, bool]]:
    """50 systems of 10 tools (created once): (id, actions, production, production_secrets)."""
    cursor.execute("SELECT count(*) FROM identities_system WHERE external_id LIKE %s", ["scale-sys-%"])
    if cursor.fetchone()[0] == 0:
        now = timezone.now()
        system_id, tool_id = _next_id(cursor, "identities_system"), _next_id(cursor, "identities_tool")
        kinds = ["mcp_server", "saas", "database", "cloud_account"]
        systems, tools = [], []
        for s in range(SYSTEMS):
            sid = system_id + s
            systems.append(
                _row(sid, uuid.uuid4(), f"scale-system-{s:02d}", kinds[s % 4], "", "", f"scale-sys-{s:02d}", now)
            )
            for t in range(TOOLS_PER_SYSTEM):
                n = s * TOOLS_PER_SYSTEM + t
                actions = ["read", "write", "execute", "admin"] if t % 3 == 0 else ["read", "write"]
                tools.append(
                    _row(
                        tool_id + n,
                        uuid.uuid4(),
                        sid,
                        f"scale{s:02d}.tool_{t}",
                        f"Tool {t} of system {s}",
                        "",
                        _array(actions),
                        ["low", "medium", "high"][n % 3],
                        "internal",
                        "t" if n % 4 == 0 else "f",  # production
                        "t" if n % 25 == 0 else "f",  # production secrets
                        "f",
                        f"scale-tool-{n:03d}",
                        now,
                    )
                )
        _copy(
            cursor,
            "identities_system",
            "id, uuid, name, kind, description, vendor, external_id, created_at",
            iter(systems),
        )
        _copy(
            cursor,
            "identities_tool",
            "id, uuid, system_id, key, name, description, actions, sensitivity, data_class, production, "
            "production_secrets, third_party, external_id, created_at",
            iter(tools),
        )
        _sync_sequence(cursor, "identities_system")
        _sync_sequence(cursor, "identities_tool")
    cursor.execute(
        "SELECT id, actions, production, production_secrets FROM identities_tool WHERE external_id LIKE %s ORDER BY id",
        ["scale-tool-%"],
    )
    return cursor.fetchall()


def _owners(cursor, n: int) -> list[int]:
    """Scale persons who own identities (one per 20), given the identity owner role."""
    wanted = max(1, n // IDENTITIES_PER_OWNER)
    cursor.execute("SELECT id FROM auth_user WHERE username LIKE %s ORDER BY username LIMIT %s", ["scale-%", wanted])
    owners = [row[0] for row in cursor.fetchall()]
    if not owners:
        raise RuntimeError("no scale persons: run identities.seeds.people.scale first")
    group = Group.objects.get_or_create(name=Role.IDENTITY_OWNER.value)[0]
    cursor.execute(
        "INSERT INTO auth_user_groups (user_id, group_id) SELECT unnest(%s::int[]), %s ON CONFLICT DO NOTHING",
        [owners, group.pk],
    )
    return owners


def _row(*fields) -> str:
    """One text-format COPY line: tab-separated, None as NULL (our values hold no tabs or backslashes)."""
    return "\t".join("\\N" if f is None else str(f) for f in fields) + "\n"


IDENTITY_COLUMNS = (
    "id, uuid, external_id, kind, name, description, status, status_reason, environment, hosting, cloud_account, "
    "region, exposure, capabilities, model_provider, model_name, delegation_depth, allowed_image_digests, "
    "source_repository, source_commit, attestation_signer, derived_tier, risk_reasons, tier_override, "
    "tier_override_reason, risk_tier, is_orphaned, flags, created_at, updated_at"
)
CREDENTIAL_COLUMNS = (
    "id, uuid, name, kind, fingerprint, is_static, ttl_seconds, storage_kind, storage_location, issued_at, "
    "revocation_status, revocation_reason, revocation_note, created_at"
)


def _write(cursor, numbers: range, tools, owners: list[int]) -> list[int]:
    rng = random.Random(20261129 + numbers.start)  # noqa: S311 - reproducible test data, not secrets
    now = timezone.now()
    first = {
        table: _next_id(cursor, f"identities_{table}")
        for table in ("identity", "identifier", "ownership", "entitlement", "credential")
    }
    holder_id = _next_id(cursor, "identities_credential_holders")
    carried_id = _next_id(cursor, "identities_credential_entitlements")
    identities, identifiers, ownerships, entitlements, credentials, holders, carried = [], [], [], [], [], [], []
    ids = []
    for offset, i in enumerate(numbers):
        iid = first["identity"] + offset
        ids.append(iid)
        kind = rng.choice(KINDS)
        caps = rng.choice(CAPABILITY_SETS) if kind != "human" else []
        hosting = rng.choice(HOSTING)
        identities.append(
            _row(
                iid,
                uuid.uuid4(),
                f"{PREFIX}{i:07d}",
                kind,
                f"{kind.replace('_', '-')}-{i:07d}",
                "",
                "active",
                "",
                rng.choice(ENVIRONMENTS),
                hosting,
                "" if hosting == "on_prem" else f"acct-{i % 97}",
                ["eu-west-1", "us-east-1", "europe-west4"][i % 3],
                "customer_facing" if rng.random() < 0.2 else "internal",
                _array(caps),
                "anthropic" if kind == "agent" else "",
                "claude" if kind == "agent" else "",
                0,
                "{}",
                "",
                "",
                "",
                "low",
                "[]",
                "",
                "",
                "low",
                "t",
                "{}",
                now,
                now,
            )
        )
        identifiers.append(
            _row(first["identifier"] + offset, uuid.uuid4(), iid, "spiffe", f"spiffe://scale.example/ns/{i:07d}", now)
        )
        if i % ORPHAN_EVERY:
            owner = owners[i % len(owners)]
            ownerships.append(_row(first["ownership"] + offset, uuid.uuid4(), iid, owner, "accountable", now, ""))
        mine = []
        for k, t in enumerate(rng.sample(range(len(tools)), ENTITLEMENTS_PER_IDENTITY)):
            tool_id, actions, _, _ = tools[t]
            action = rng.choice(ACTION_MIX)
            if action not in actions:
                action = "read"
            scope = "{}" if k % 3 else json.dumps({"repo": f"org-{i % 50}/*"})
            eid = first["entitlement"] + offset * ENTITLEMENTS_PER_IDENTITY + k
            mine.append(eid)
            entitlements.append(_row(eid, uuid.uuid4(), iid, tool_id, action, scope, "standing", "manual", "", "", now))
        for c in range(CREDENTIALS_PER_IDENTITY):
            cid = first["credential"] + offset * CREDENTIALS_PER_IDENTITY + c
            static = c == 0
            credentials.append(
                _row(
                    cid,
                    uuid.uuid4(),
                    f"{'static key' if static else 'workload token'} {i}",
                    rng.choice(CREDENTIAL_KINDS) if static else "jwt_svid",
                    uuid.uuid4().hex + uuid.uuid4().hex,
                    "t" if static else "f",
                    None if static else 900,
                    rng.choice(STORAGE),
                    "",
                    now - timedelta(days=rng.randrange(1, 400)) if static else now,
                    "",
                    "",
                    "",
                    now,
                )
            )
            holders.append(_row(holder_id, cid, iid))
            holder_id += 1
            if offset % 50 == 1 and c == 0:  # a credential shared with the previous identity, now and then
                holders.append(_row(holder_id, cid, iid - 1))
                holder_id += 1
            carried.append(_row(carried_id, cid, mine[c]))
            carried_id += 1
    _copy(cursor, "identities_identity", IDENTITY_COLUMNS, iter(identities))
    _copy(cursor, "identities_identifier", "id, uuid, identity_id, kind, value, created_at", iter(identifiers))
    _copy(
        cursor,
        "identities_ownership",
        "id, uuid, identity_id, person_id, role, valid_from, end_reason",
        iter(ownerships),
    )
    _copy(
        cursor,
        "identities_entitlement",
        "id, uuid, identity_id, tool_id, action, scope, mode, source, reason, revoke_reason, granted_at",
        iter(entitlements),
    )
    _copy(cursor, "identities_credential", CREDENTIAL_COLUMNS, iter(credentials))
    _copy(cursor, "identities_credential_holders", "id, credential_id, identity_id", iter(holders))
    _copy(cursor, "identities_credential_entitlements", "id, credential_id, entitlement_id", iter(carried))
    return ids
