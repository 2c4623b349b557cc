"""The registry at scale (issue 4 targets): identity list, filtered list and identity page server time with
their query counts, and a registry import of 100k identities + 1M entitlements beside a raw COPY.

    # pages: against a database holding the scale data (seed it once, ~2 minutes)
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/agentiam_bench python manage.py migrate
    DATABASE_URL=... python manage.py seed_demo --scale 100000
    DATABASE_URL=... .venv/bin/python bench/bench_registry.py pages [--runs 40]

    # import: into a scratch database <name>_import that this script drops and recreates
    DATABASE_URL=... .venv/bin/python bench/bench_registry.py import [--identities 100000]

Pages are requested through Django's test client in this process (middleware, view, template: the
server's whole work, no network), as an administrator (sees everything) and as an identity owner
(restricted queries). Query counts are taken at three page sizes to show they do not grow with it.
Targets: p95 <= 150 ms per page; import <= 3 minutes.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("AGENTIAM_PROFILE", "test")  # plain static files, testserver allowed
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "agentiam.settings")
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def summary(label: str, times_ms: list[float], queries: str) -> str:
    return (
        f"  {label:<44} p50 {statistics.median(times_ms):7.1f} ms   p95 {percentile(times_ms, 0.95):7.1f} ms   "
        f"max {max(times_ms):7.1f} ms   queries {queries}"
    )


# --- pages ---------------------------------------------------------------------------------------------------


def signed_in_client(user):
    from django.test import Client
    from django_otp.plugins.otp_totp.models import TOTPDevice

    client = Client()
    client.force_login(user)
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first() or TOTPDevice.objects.create(
        user=user, name="bench", confirmed=True
    )
    session = client.session
    session["otp_device_id"] = device.persistent_id  # the second factor, as tests.support.sign_in does
    session.save()
    return client


def bench_people():
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from agentiam.permissions import Role
    from identities.models.registry import current_ownerships

    User = get_user_model()
    admin, _ = User.objects.get_or_create(username="bench-admin", defaults={"email": "bench-admin@example.com"})
    admin.groups.add(Group.objects.get_or_create(name=Role.ADMINISTRATOR.value)[0])
    owner_id = current_ownerships().values_list("person_id", flat=True).order_by("person_id").first()
    return admin, User.objects.get(pk=owner_id)


def timed(client, path: str, runs: int) -> list[float]:
    client.get(path)  # warm caches (templates, plans) once
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        response = client.get(path)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (path, response.status_code)
    return times


def query_counts(client, path: str, sizes=(10, 50, 200)) -> str:
    """Queries at several page sizes: the UI table's page size is set on the class, the API's by parameter."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from identities.views.registry.identities import IdentityTable

    counts = []
    original = IdentityTable.page_size
    try:
        for size in sizes:
            IdentityTable.page_size = size
            sized = path + (("&" if "?" in path else "?") + f"page_size={size}" if path.startswith("/api/") else "")
            with CaptureQueriesContext(connection) as captured:
                assert client.get(sized).status_code == 200
            counts.append(len(captured.captured_queries))
    finally:
        IdentityTable.page_size = original
    return " / ".join(str(c) for c in counts) + f" (page size {' / '.join(map(str, sizes))})"


def run_pages(runs: int) -> None:
    import django

    django.setup()
    from identities.models import Identity

    total = Identity.objects.count()
    if total < 1000:
        sys.exit("No scale data: run `manage.py seed_demo --scale 100000` against this database first.")
    admin, owner = bench_people()
    print(f"Registry pages: {total:,} identities (DATABASE_URL database), {runs} runs each, in-process server time")
    filtered = "?risk_tier=high&orphaned=true&environment=prod"
    sample = list(Identity.objects.order_by("?").values_list("uuid", flat=True)[: runs + 1])
    owned = list(Identity.objects.owned_by(owner).values_list("uuid", flat=True))
    for who, user in (("administrator", admin), ("identity owner", owner)):
        client = signed_in_client(user)
        print(f" as {who} ({user.username}):")
        for label, path in (
            ("identity list  /identities/", "/identities/"),
            ("filtered list  tier+orphaned+environment", "/identities/" + filtered),
            ("API list       /api/v1/identities/", "/api/v1/identities/"),
            ("API filtered   tier+orphaned+environment", "/api/v1/identities/" + filtered),
        ):
            print(summary(label, timed(client, path, runs), query_counts(client, path)))
        uuids = sample if who == "administrator" else owned
        times = []
        for n in range(runs):
            times.extend(timed(client, f"/identities/{uuids[n % len(uuids)]}/", 1))
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as captured:
            client.get(f"/identities/{uuids[0]}/")
        print(summary("identity page  /identities/<uuid>/", times, str(len(captured.captured_queries))))


# --- import --------------------------------------------------------------------------------------------------


def scratch_database(url: str) -> str:
    """Drop and create <name>_import next to the DATABASE_URL database; returns its URL."""
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/") + "_import"
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')
    return urlunsplit(parts._replace(path="/" + name))


def write_files(folder: Path, identities: int, per: int, tools: list[str], owners: list[tuple[str, str]]):
    """The same rows twice: a registry ZIP for the import, and raw CSV for COPY."""
    rng = random.Random(4)  # noqa: S311 - test data
    environments, kinds = ["dev", "test", "staging", "prod"], ["agent", "service_account"]
    caps = ["", "", "internet_egress", "generates_code", "delegates"]
    zip_path = folder / "registry.zip"
    with zipfile.ZipFile(zip_path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        with archive.open("persons.csv", "w") as member:
            member.write(("external_id,email\n" + "".join(f"{o},{e}\n" for o, e in owners)).encode())
        rows_i = ["external_id,kind,name,environment,capabilities,owner\n"]
        rows_e = ["external_id,identity,tool,action,scope\n"]
        for i in range(identities):
            owner = owners[i % len(owners)][0]
            rows_i.append(f"imp-{i},{kinds[i % 2]},imported-{i},{environments[i % 4]},{caps[i % 5]},{owner}\n")
            for k, t in enumerate(rng.sample(range(len(tools)), per)):
                scope = '"{""repo"": ""org/*""}"' if k == 0 else ""
                rows_e.append(f"imp-{i}-{k},imp-{i},{tools[t]},read,{scope}\n")
        archive.writestr("identities.csv", "".join(rows_i))
        archive.writestr("entitlements.csv", "".join(rows_e))
    return zip_path, len(rows_i) - 1, len(rows_e) - 1


def raw_copy(identities: int, per: int, tool_ids: list[int], owner_ids: list[int]) -> float:
    """The floor: the same identities, ownerships and entitlements COPYed straight into the tables."""
    import uuid

    from django.db import connection, transaction
    from django.utils import timezone

    rng = random.Random(4)  # noqa: S311 - the same choices as write_files
    environments, kinds = ["dev", "test", "staging", "prod"], ["agent", "service_account"]
    now = timezone.now()
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        with cursor.cursor.copy(
            "COPY identities_identity (id, uuid, external_id, kind, name, description, status, status_reason, "
            "environment, hosting, cloud_account, region, exposure, capabilities, model_provider, model_name, "
            "delegation_depth, allowed_image_digests, source_repository, source_commit, attestation_signer, "
            "derived_tier, risk_reasons, tier_override, tier_override_reason, risk_tier, is_orphaned, flags, "
            "created_at, updated_at) FROM STDIN"
        ) as copy:
            for i in range(identities):
                copy.write(
                    f"{i + 1}\t{uuid.uuid4()}\timp-{i}\t{kinds[i % 2]}\timported-{i}\t\tactive\t\t{environments[i % 4]}"
                    f"\tother\t\t\tinternal\t{{}}\t\t\t0\t{{}}\t\t\t\tlow\t[]\t\t\tlow\tf\t{{}}\t{now}\t{now}\n"
                )
        with cursor.cursor.copy(
            "COPY identities_ownership (uuid, identity_id, person_id, role, valid_from, end_reason) FROM STDIN"
        ) as copy:
            for i in range(identities):
                copy.write(f"{uuid.uuid4()}\t{i + 1}\t{owner_ids[i % len(owner_ids)]}\taccountable\t{now}\t\n")
        with cursor.cursor.copy(
            "COPY identities_entitlement (uuid, identity_id, tool_id, action, scope, mode, source, reason, "
            "revoke_reason, granted_at, external_id) FROM STDIN"
        ) as copy:
            for i in range(identities):
                for k, t in enumerate(rng.sample(range(len(tool_ids)), per)):
                    scope = '{"repo": "org/*"}' if k == 0 else "{}"
                    row = (
                        uuid.uuid4(),
                        i + 1,
                        tool_ids[t],
                        "read",
                        scope,
                        "standing",
                        "import",
                        "",
                        "",
                        now,
                        f"imp-{i}-{k}",
                    )
                    copy.write("\t".join(map(str, row)) + "\n")
    return time.perf_counter() - started


def run_import(identities: int, per: int) -> None:
    os.environ["DATABASE_URL"] = scratch_database(os.environ["DATABASE_URL"])
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.core.management import call_command
    from django.db import connection

    from agentiam.permissions import Role
    from identities.imports.runner import registry_import
    from identities.models import Entitlement, Identity, System, Tool

    call_command("migrate", verbosity=0)
    User = get_user_model()
    admin = User.objects.create(username="bench-admin", email="admin@bench.example")
    admin.groups.add(Group.objects.get_or_create(name=Role.ADMINISTRATOR.value)[0])
    owner_group = Group.objects.get_or_create(name=Role.IDENTITY_OWNER.value)[0]
    people = User.objects.bulk_create(
        [User(username=f"owner-{n}", email=f"owner-{n}@bench.example") for n in range(max(1, identities // 20))]
    )
    owner_group.user_set.add(*people)
    system = System.objects.create(name="bench", kind="saas")
    tools = Tool.objects.bulk_create(
        [Tool(system=system, key=f"bench.tool_{n}", name=f"t{n}", actions=["read", "write"], external_id=f"t{n}")
         for n in range(500)]
    )  # fmt: skip
    owners = [(f"p{p.pk}", p.email) for p in people]
    with tempfile.TemporaryDirectory() as folder:
        made = time.perf_counter()
        zip_path, n_identities, n_entitlements = write_files(
            Path(folder), identities, per, [t.external_id for t in tools], owners
        )
        size = zip_path.stat().st_size
        print(
            f"Import: {n_identities:,} identities + {n_entitlements:,} entitlements "
            f"({size / 1e6:.1f} MB ZIP, written in {time.perf_counter() - made:.1f} s)"
        )
        raw = raw_copy(identities, per, [t.pk for t in tools], [p.pk for p in people])
        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE identities_entitlement, identities_ownership, identities_identity CASCADE")
        phases: dict[str, float] = {}
        state = {"phase": None, "at": time.perf_counter()}

        def progress(phase: str, info: dict) -> None:  # called as each phase starts
            now = time.perf_counter()
            if state["phase"]:
                phases[state["phase"]] = phases.get(state["phase"], 0) + now - state["at"]
            state.update(phase=phase, at=now)

        started = time.perf_counter()
        result = registry_import(path=zip_path, actor=admin, progress=progress)
        took = time.perf_counter() - started
    assert result.ok, result.report.as_json()
    assert Identity.objects.count() == n_identities and Entitlement.objects.count() == n_entitlements
    print(f"  raw COPY of the same rows (identities, owners, entitlements)   {raw:7.1f} s")
    print(f"  registry_import (checks, rules, writes, risk, audit: one tx)  {took:7.1f} s   ({took / raw:.1f}x raw)")
    print("    phases: " + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in phases.items()))
    print(f"  target <= 180 s: {'met' if took <= 180 else 'MISSED'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["pages", "import"])
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--identities", type=int, default=100_000)
    parser.add_argument("--entitlements-per-identity", type=int, default=10)
    args = parser.parse_args()
    if "DATABASE_URL" not in os.environ:
        sys.exit("Set DATABASE_URL (the import uses <name>_import beside it).")
    if args.what == "pages":
        run_pages(args.runs)
    else:
        run_import(args.identities, args.entitlements_per_identity)


if __name__ == "__main__":
    main()
