"""HTTP `decide` under gunicorn vs a bare Django view doing `SELECT 1`, from a second process on loopback.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/x .venv/bin/python bench/bench_runtime_http.py \
        [--workers 5] [--duration 10] [--concurrency 32] [--keep]

It creates its own database (<name of DATABASE_URL>_bench: dropped and re-created), migrates it, seeds an
agent with a SPIFFE identifier, acceptable use and a standing entitlement, a trust bundle and a gateway,
then starts gunicorn (sync workers, the project's WSGI app, DEBUG off) on a free loopback port. The bare
view is mounted beside the project's URLs by a bench-only URL configuration, so both go through the same
server, middleware and database. Loads (this process, asyncio, one connection per request as gunicorn's
sync workers close them):

- maximum throughput: closed loop, `--concurrency` callers for `--duration` seconds, bare view then decide;
- latency at a fixed offered rate of half decide's maximum: open loop (requests are sent on a schedule,
  whether or not earlier ones have answered; latency counts from the scheduled time, so a stalled server
  cannot hide its queue);
- token exchange throughput (closed loop) and a batch of 50 decisions per request.

Targets (issue 5): decide ≥ 0.25 x the bare view's maximum; p99 ≤ 50 ms at half of decide's maximum;
token exchange ≥ 100/s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SETTINGS = """
from agentiam.settings import *  # noqa: F403
ROOT_URLCONF = "bench_runtime_urls"
if os.environ.get("BENCH_NO_FAST_PATH"):
    MIDDLEWARE = [m for m in MIDDLEWARE if "RuntimeFastPath" not in m]  # noqa: F405
"""
URLS = """
from django.db import connection
from django.http import HttpResponse
from django.urls import path

from agentiam.permissions import public
from agentiam.urls import urlpatterns as project


@public
def select_one(request):
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return HttpResponse(b"1", content_type="text/plain")


urlpatterns = [path("bench/select1", select_one), *project]
"""


def bench_database_url() -> str:
    base = os.environ.get("DATABASE_URL") or "postgresql://postgres@127.0.0.1:5432/agentiam"
    parts = urlsplit(base)
    name = parts.path.strip("/") + "_bench"
    return urlunsplit(parts._replace(path=f"/{name}"))


def recreate_database(url: str) -> None:
    import psycopg

    parts = urlsplit(url)
    name = parts.path.strip("/")
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')


def setup_django(env: dict[str, str]) -> None:
    os.environ.update(env)
    import django

    django.setup()


def seed() -> dict[str, str]:
    """The estate every request uses; returns the gateway credential, an access token and a proof."""
    import jwt
    from cryptography.hazmat.primitives.asymmetric import rsa
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from jwt.algorithms import RSAAlgorithm

    from identities import services as registry
    from identities.models import System, Tool
    from identities.runtime import services as runtime
    from identities.runtime.services.exchange import ExchangeRequest, token_exchange

    def person(username, role):
        user = get_user_model().objects.create_user(username=username, email=f"{username}@bench.example")
        user.groups.add(Group.objects.get_or_create(name=role)[0])
        return user

    admin, owner = person("bench-admin", "administrator"), person("bench-owner", "identity_owner")
    system = System.objects.create(name="GitHub", kind="saas")
    tool = Tool.objects.create(system=system, key="github.read_repo", name="Read repo", actions=["read"])
    agent = registry.identity_create(actor=owner, kind="agent", name="bench-agent", environment="prod")
    registry.identifier_add(identity=agent, actor=owner, kind="spiffe", value="spiffe://bench.example/agent/a")
    registry.aup_add_version(identity=agent, actor=owner, purpose="bench", allowed_tools=["github.*"], data_classes=[])
    registry.entitlement_grant(identity=agent, tool=tool, action="read", actor=owner, scope={"repo": "acme/*"})
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    bundle = {"keys": [{**RSAAlgorithm.to_jwk(key.public_key(), as_dict=True), "kid": "k1", "use": "jwt-svid"}]}
    runtime.trust_bundle_create(
        actor=admin, trust_domain="bench.example", audience=settings.RUNTIME_TOKEN_ENDPOINT, bundle=bundle
    )
    _, credential = runtime.gateway_create(
        actor=admin, name="bench-gw", audiences=["https://tools.bench"], environment="prod"
    )
    now = int(time.time())
    proof = jwt.encode(
        {"sub": "spiffe://bench.example/agent/a", "aud": settings.RUNTIME_TOKEN_ENDPOINT, "exp": now + 3600},
        key,
        algorithm="RS256",
        headers={"kid": "k1"},
    )
    exchange = {
        "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
        "subject_token": proof,
        "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
        "audience": ["https://tools.bench"],
        "scope": "github.read_repo:read",
        "task": "bench",
    }
    issued = token_exchange(ExchangeRequest(**{**exchange, "audience": ("https://tools.bench",)}))
    return {"credential": credential, "token": issued.access_token, "exchange": json.dumps(exchange)}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_gunicorn(env: dict[str, str], port: int, workers: int, log: Path) -> subprocess.Popen:
    command = [
        sys.executable, "-m", "gunicorn", "agentiam.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
        "--backlog", "2048", "--timeout", "60", "--error-logfile", str(log), "--log-level", "warning",
    ]  # fmt: skip
    server = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return server
        except OSError:
            time.sleep(0.2)
    server.terminate()
    raise SystemExit(f"gunicorn did not start; see {log}")


def http_request(method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def send(port: int, raw: bytes) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(raw)
    data = await reader.read()
    writer.close()
    status = int(data[9:12]) if data[:5] == b"HTTP/" else 0
    return status, data


async def closed_loop(port: int, raw: bytes, seconds: float, concurrency: int) -> tuple[float, int, int]:
    """(requests per second, completed, errors) with `concurrency` callers each waiting for its answer."""
    done = errors = 0
    stop = time.perf_counter() + seconds

    async def caller():
        nonlocal done, errors
        while time.perf_counter() < stop:
            try:
                status, _ = await send(port, raw)
            except OSError:
                status = 0
            done += 1
            errors += status != 200

    started = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(concurrency)))
    return done / (time.perf_counter() - started), done, errors


async def open_loop(port: int, raw: bytes, rate: float, seconds: float) -> tuple[list[float], int, float]:
    """Latencies (ms, from each request's scheduled time), errors and the rate actually sent."""
    latencies: list[float] = []
    errors = 0
    total = int(rate * seconds)
    start = time.perf_counter() + 0.1

    async def one(scheduled: float):
        nonlocal errors
        try:
            status, _ = await send(port, raw)
        except OSError:
            status = 0
        latencies.append((time.perf_counter() - scheduled) * 1000)
        errors += status != 200

    tasks = []
    for index in range(total):
        scheduled = start + index / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(scheduled)))
    sent_rate = total / (time.perf_counter() - start)
    await asyncio.gather(*tasks)
    return latencies, errors, sent_rate


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=5)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--no-fast-path", action="store_true", help="decide through the whole middleware stack")
    parser.add_argument("--keep", action="store_true", help="keep the bench database afterwards")
    args = parser.parse_args()

    url = bench_database_url()
    recreate_database(url)
    helpers = Path(tempfile.mkdtemp(prefix="agentiam-bench-"))
    (helpers / "bench_runtime_settings.py").write_text(SETTINGS)
    (helpers / "bench_runtime_urls.py").write_text(URLS)
    var_dir = ROOT / "var" / "bench-runtime"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PYTEST")},
        "AGENTIAM_PROFILE": "local",
        "AGENTIAM_VAR_DIR": str(var_dir),
        "DATABASE_URL": url,
        "DJANGO_SETTINGS_MODULE": "bench_runtime_settings",
        "PYTHONPATH": os.pathsep.join([str(helpers), str(ROOT)]),
        "LOG_LEVEL": "WARNING",
        "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
    }
    if args.no_fast_path:
        env["BENCH_NO_FAST_PATH"] = "1"
    sys.path.insert(0, str(helpers))
    setup_django(env)
    from django.core.management import call_command

    print(f"database {urlsplit(url).path.strip('/')}: migrating and seeding …", flush=True)
    call_command("migrate", verbosity=0)
    seeded = seed()
    port = free_port()
    server = start_gunicorn(env, port, args.workers, var_dir / "gunicorn.log")
    try:
        run(port, seeded, args)
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=15)
        if not args.keep:
            from django.db import connections

            connections.close_all()
            recreate_database(url)  # leaves an empty database rather than a large one


def run(port: int, seeded: dict[str, str], args) -> None:
    auth = {"Authorization": f"Bearer {seeded['credential']}", "Content-Type": "application/json"}
    single = {"token": seeded["token"], "tool": "github.read_repo", "action": "read", "resource": {"repo": "acme/a"}}
    decide = http_request("POST", "/api/v1/runtime/decide", json.dumps(single).encode(), auth)
    batch = http_request("POST", "/api/v1/runtime/decide", json.dumps([single] * 50).encode(), auth)
    bare = http_request("GET", "/bench/select1")
    exchange = http_request(
        "POST", "/api/v1/runtime/token", seeded["exchange"].encode(), {"Content-Type": "application/json"}
    )
    status, body = asyncio.run(send(port, decide))
    assert status == 200 and b'"allow"' in body, body[-300:]
    for raw in (bare, decide, exchange):  # warm every worker: policy parsed, connections open
        asyncio.run(closed_loop(port, raw, 2.0, args.concurrency))

    d, c = args.duration, args.concurrency
    bare_rate, bare_n, bare_err = asyncio.run(closed_loop(port, bare, d, c))
    decide_rate, decide_n, decide_err = asyncio.run(closed_loop(port, decide, d, c))
    half = decide_rate / 2
    latencies, open_err, sent = asyncio.run(open_loop(port, decide, half, max(d, 15.0)))
    bare_latencies, _, bare_sent = asyncio.run(open_loop(port, bare, bare_rate / 2, d))
    token_rate, token_n, token_err = asyncio.run(closed_loop(port, exchange, d, min(c, 16)))
    batch_rate, batch_n, batch_err = asyncio.run(closed_loop(port, batch, d, min(c, 8)))

    fast = "off" if args.no_fast_path else "on"
    print(f"\ngunicorn: {args.workers} sync workers on 127.0.0.1:{port}; runtime fast path {fast}")
    print(f"load: asyncio in another process; {c} callers (closed loop), or a fixed schedule (open loop)")
    print(f"  bare view + SELECT 1      max {bare_rate:8.0f} req/s   ({bare_n} requests, {bare_err} errors)")
    print(f"  decide                    max {decide_rate:8.0f} req/s   ({decide_n} requests, {decide_err} errors)")
    ratio = decide_rate / bare_rate
    print(f"  decide / bare             {ratio:8.2f}             target >= 0.25  {'PASS' if ratio >= 0.25 else 'FAIL'}")
    p50, p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
    print(
        f"  decide at {half:.0f}/s offered (sent {sent:.0f}/s, {len(latencies)} requests, {open_err} errors): "
        f"p50 {p50:.1f} ms  p90 {percentile(latencies, 0.9):.1f} ms  p99 {p99:.1f} ms  max {max(latencies):.1f} ms"
        f"   target p99 <= 50 ms  {'PASS' if p99 <= 50 else 'FAIL'}"
    )
    bare_p50, bare_p99 = percentile(bare_latencies, 0.5), percentile(bare_latencies, 0.99)
    print(
        f"  bare at {bare_rate / 2:.0f}/s offered (sent {bare_sent:.0f}/s): p50 {bare_p50:.1f} ms"
        f"  p99 {bare_p99:.1f} ms"
    )
    print(f"  token exchange            max {token_rate:8.0f} req/s   ({token_n} requests, {token_err} errors)"
          f"   target >= 100/s  {'PASS' if token_rate >= 100 else 'FAIL'}")  # fmt: skip
    print(
        f"  decide, batches of 50     max {batch_rate * 50:8.0f} decisions/s ({batch_n} requests, {batch_err} errors)"
    )


if __name__ == "__main__":
    main()
