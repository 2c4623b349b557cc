"""Outside probe for issue 9: replays its defect classes over HTTP against a running server, as an attacker
would, and checks that each answer is a 4xx JSON error naming the field or limit, and that the database is
unchanged after every refused request (row counts of every table, before and after).

    PORT=8711 make run   # in another shell
    DATABASE_URL=... .venv/bin/python bench/probe_hardening.py --base http://127.0.0.1:8711 [--api-token T]

Without --api-token only the unauthenticated classes run (make one with `manage.py issue_api_token owner`).
Bounded: one request per case, 10 s timeout each. Exit status 1 when any case fails.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import sys
import urllib.parse

import psycopg

TOKEN_PATH = "/api/v1/runtime/token"  # noqa: S105 (a path)
DECIDE = "/api/v1/runtime/decide"
INTROSPECT = "/api/v1/runtime/introspect"
JSON = "application/json"


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def cases(token: str | None):
    form = "application/x-www-form-urlencoded"
    deep_subject = "eyJhbGciOiJFUzI1NiJ9." + base64.urlsafe_b64encode(nested(5000)).decode().rstrip("=")
    yield "token: not JSON", "POST", TOKEN_PATH, JSON, b"{not json", None
    yield "token: invalid UTF-8", "POST", TOKEN_PATH, JSON, b'{"grant_type": "\xff\xfe"}', None
    yield "token: binary", "POST", TOKEN_PATH, JSON, bytes(range(256)), None
    yield "token: 100,000 nested arrays", "POST", TOKEN_PATH, JSON, nested(100_000), None
    yield "token: NUL in a field", "POST", TOKEN_PATH, form, b"grant_type=a%00b", None
    yield (
        "token: subject_token nesting 5,000",
        "POST",
        TOKEN_PATH,
        form,
        "grant_type=urn:ietf:params:oauth:grant-type:token-exchange&subject_token_type="
        f"urn:ietf:params:oauth:token-type:jwt&audience=https://tools.example.com&scope=jira.read_issue:read&task=INC-1&subject_token={deep_subject}.sig".encode(),
        None,
    )
    yield "token: 12 MB body", "POST", TOKEN_PATH, JSON, b'{"a": "' + b"x" * 12_000_000 + b'"}', None
    for path in (DECIDE, INTROSPECT):
        yield f"{path}: not JSON", "POST", path, JSON, b"{not json", None
        yield f"{path}: nested body", "POST", path, JSON, nested(1_500), None
    if token:
        auth = {"Authorization": f"Bearer {token}"}
        yield "identities: tampered cursor", "GET", "/api/v1/identities/?cursor=cD0yMDI2LTEyLTA3", None, None, auth
        yield "identities: nested body", "POST", "/api/v1/identities/", JSON, nested(3_000), auth
        yield (
            "identities: nested field",
            "POST",
            "/api/v1/identities/",
            JSON,
            b'{"name": "probe", "scope": ' + nested(3_000) + b"}",
            auth,
        )
        yield "identities: not JSON", "POST", "/api/v1/identities/", JSON, b"{not json", auth
        yield "identities: invalid UTF-8", "POST", "/api/v1/identities/", JSON, b'{"name": "\xff"}', auth


def counts(url: str) -> dict[str, int]:
    with psycopg.connect(url) as db:
        tables = [
            name
            for (name,) in db.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY 1"
            ).fetchall()
        ]
        return {t: db.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}  # noqa: S608


def send(base, method, path, ctype, body, headers):
    """One request; a server that answers a huge body early and closes is read all the same."""
    url = urllib.parse.urlsplit(base)
    connection = http.client.HTTPConnection(url.hostname, url.port or 80, timeout=10)
    sent = {**(headers or {}), **({"Content-Type": ctype} if ctype else {})}
    try:
        try:
            connection.request(method, path, body=body, headers=sent)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server refused before reading it all; its answer is still there
        answer = connection.getresponse()
        return answer.status, answer.getheader("Content-Type", ""), answer.read()
    except (OSError, http.client.HTTPException) as error:
        return 0, "", str(error).encode()
    finally:
        connection.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="http://127.0.0.1:8000")
    parser.add_argument("--api-token", default=os.environ.get("AGENTIAM_PROBE_TOKEN"))
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    args = parser.parse_args()
    if not args.database_url:
        parser.error("set DATABASE_URL (or --database-url) to the server's database")
    failures = 0
    for name, method, path, ctype, body, headers in cases(args.api_token):
        before = counts(args.database_url)
        status, answer_type, answer = send(args.base, method, path, ctype, body, headers)
        after = counts(args.database_url)
        changed = sorted(t for t in after if after[t] != before.get(t) and t not in VOLATILE)
        try:
            error = json.loads(answer) if answer_type.startswith(JSON) else None
        except ValueError:
            error = None
        named = isinstance(error, dict) and any(k in error for k in ("error", "fields", "detail", "code"))
        ok = 400 <= status < 500 and named and not changed
        failures += not ok
        summary = json.dumps(error)[:110] if error is not None else answer[:80]
        logged = after.get("audit_securityevent", 0) - before.get("audit_securityevent", 0)
        note = (" CHANGED " + ",".join(changed) if changed else "") + (f" (+{logged} security event)" if logged else "")
        print(f"{'ok  ' if ok else 'FAIL'} {status} {name}: {summary}{note}")
    print(f"{failures} failed" if failures else "all refused, database unchanged")
    return 1 if failures else 0


# Written by design whatever the answer: sessions, heartbeats, and the rate-limited log of unauthenticated
# refusals (issue 9 class 11), which the probe counts separately instead of as a change.
VOLATILE = {"django_session", "audit_securityevent", "agentiam_heartbeat"}

if __name__ == "__main__":
    sys.exit(main())
