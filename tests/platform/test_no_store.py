"""Every answer under /api/ — with an API token, a session or none, whatever the status — and every download
carries `Cache-Control: no-store`, so no shared or browser cache keeps a private answer (the request guard,
agentiam.middleware). The walk covers every API route, so a new one cannot skip it."""

from __future__ import annotations

import re
import uuid

import pytest
from django.test import Client

from identities import services
from tests.platform.test_permissions_declared import endpoints
from tests.support import sign_in

pytestmark = pytest.mark.django_db

MACHINE = ("/api/v1/runtime/token", "/api/v1/runtime/decide", "/api/v1/runtime/introspect")


def concrete(path: str) -> str:
    path = re.sub(r"<uuid:[^>]+>", str(uuid.uuid4()), path)
    path = re.sub(r"<int:[^>]+>", "1", path)
    return re.sub(r"<[^>]+>", "x", path)


def api_paths() -> list[str]:
    return sorted({concrete(endpoint.path) for endpoint in endpoints() if endpoint.path.startswith("/api/")})


def no_store(response) -> bool:
    return "no-store" in response.get("Cache-Control", "")


def test_the_walk_covers_the_api():
    paths = api_paths()
    assert "/api/v1/me/" in paths and "/api/v1/identities/" in paths and len(paths) > 40


def test_every_api_answer_is_no_store_with_a_token_a_session_or_nothing(cast):
    _, secret = services.api_token_create(actor=cast.administrator, name="cache-probe")
    token = Client(HTTP_AUTHORIZATION=f"Bearer {secret}")
    session = Client()
    sign_in(session, cast.administrator)
    missing = []
    for path in api_paths():
        for who, client in (("token", token), ("session", session), ("anonymous", Client())):
            response = client.post(path, "{}", content_type="application/json") if path in MACHINE else client.get(path)
            if not no_store(response):
                missing.append((who, path, response.status_code))
    assert missing == []


def test_me_and_the_export_download_are_no_store(cast):
    _, secret = services.api_token_create(actor=cast.administrator, name="cache-probe")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {secret}")
    me = client.get("/api/v1/me/")
    assert me.status_code == 200 and no_store(me)
    export = client.get("/api/v1/import/export/")
    assert export.status_code == 200 and export["Content-Disposition"].startswith("attachment")
    assert no_store(export)
