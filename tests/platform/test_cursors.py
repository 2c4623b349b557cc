"""Every cursor-paginated API list refuses a tampered cursor with 400 `invalid_cursor` naming `cursor` —
one that does not decode, and one that decodes to a position the ordering column cannot hold — while the
cursors it hands out still walk it."""

from __future__ import annotations

import base64

import pytest
from django.urls import reverse
from rest_framework.pagination import CursorPagination

from tests.platform.test_list_queries import LIST_ROUTES
from tests.platform.test_permissions_declared import endpoints

pytestmark = pytest.mark.django_db


def paginators() -> dict[str, type]:
    found = {}
    for endpoint in endpoints():
        paginator = getattr(getattr(endpoint.callback, "cls", None), "pagination_class", None)
        actions = getattr(endpoint.callback, "actions", None) or {}
        if actions.get("get") == "list" and paginator and issubclass(paginator, CursorPagination):
            found[endpoint.name] = paginator
    return found


def cursor_lists() -> list[str]:
    return sorted(paginators())


def endpoint_paginator(name: str) -> type:
    return paginators()[name]


def encoded(query: str) -> str:
    return base64.b64encode(query.encode()).decode()


PROBE = "cD0yMDI2LTEyLTA3"  # p=2026-12-07, the probe's: a date where an id belongs
TAMPERED = [
    "not base64!",
    encoded("p=99999999999999999999999999"),
    encoded("p=abc"),
    encoded("p=2026-13-45T99:00:00"),
    encoded("o=-1"),
    encoded("r=maybe&p=1"),
    encoded("p=\x7f"),
]


def test_the_walk_finds_the_cursor_lists():
    assert {"api:identity-list", "api:entitlement-list", "api:audit-entry-list", "api:person-list"} <= set(
        cursor_lists()
    )


@pytest.mark.parametrize("name", cursor_lists())
def test_every_cursor_list_refuses_a_tampered_cursor_and_walks_its_own(cast, client_factory, name):
    route = LIST_ROUTES[name]
    reader = getattr(cast, route.readers[0])
    for _ in range(3):
        route.fill(cast, reader)
    client = client_factory(reader)
    url = reverse(name)
    if endpoint_paginator(name).page_size_query_param:
        first = client.get(url, {**route.params, "page_size": 1})
        assert first.status_code == 200 and first.json()["next"], first.content[:300]
        assert client.get(first.json()["next"]).status_code == 200
    by_id = endpoint_paginator(name).ordering in ("pk", "-pk", "id", "-id")
    for cursor in [*TAMPERED, *([PROBE] if by_id else [])]:
        response = client.get(url, {**route.params, "cursor": cursor})
        assert response.status_code == 400, (cursor, response.content[:300])
        body = response.json()
        assert body["error"] == "invalid_cursor" and list(body["fields"]) == ["cursor"], body
