"""The fixed cast: one person per role plus an outsider, and `check_access`, which walks them all through a
page or endpoint.

    def test_people_page_is_for_the_see_everything_roles(cast, client_factory):
        check_access(client_factory, "/people/", allowed=SEE_EVERYTHING, cast=cast)

Loaded for every test by `pytest_plugins = ["tests.cast"]` in tests/conftest.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields

import pytest
from django.conf import settings
from django.shortcuts import resolve_url
from django.test import Client

from agentiam.permissions import Role
from identities.models import Profile
from tests.factories import PersonFactory
from tests.support import sign_in

OUTSIDER = "outsider"
EVERYONE = "everyone"  # every cast member, the outsider included


@dataclass
class Cast:
    administrator: object
    identity_owner: object
    manager: object
    compliance_officer: object
    security_analyst: object
    auditor: object
    outsider: object

    def members(self) -> dict[str, object]:
        return {field.name: getattr(self, field.name) for field in fields(self)}

    def __getitem__(self, name: str):
        return getattr(self, str(name))


def make_person(username: str, *roles: Role, manager=None, employee_id: str | None = None, **extra):
    """A person with a profile and the given roles (test set-up, not the service: no audit entry)."""
    return PersonFactory(username=username, roles=roles, manager=manager, employee_id=employee_id, **extra)


@pytest.fixture
def cast(db) -> Cast:
    people = {role.value: make_person(f"cast-{role.value}", role, employee_id=f"C-{role.value}") for role in Role}
    people[OUTSIDER] = make_person("cast-outsider", employee_id="C-outsider")
    # The manager relation: the identity owner (and the outsider) report to the manager.
    Profile.objects.filter(user__in=[people["identity_owner"], people[OUTSIDER]]).update(manager=people["manager"])
    return Cast(**people)


@pytest.fixture
def client_factory(db) -> Callable[..., Client]:
    """client_factory(user=None) → a fresh test client, signed in (second factor passed) when given a user."""

    def make(user=None) -> Client:
        client = Client()
        if user is not None:
            sign_in(client, user)
        return client

    return make


def _names(allowed) -> set[str]:
    if allowed == EVERYONE:
        return {field.name for field in fields(Cast)}
    if isinstance(allowed, str | Role):
        allowed = [allowed]
    return {Role(name).value if name != OUTSIDER else OUTSIDER for name in allowed}


def check_access(
    client_factory: Callable[..., Client],
    url: str,
    *,
    cast: Cast,
    allowed: Iterable[Role | str] | str,
    method: str = "get",
    data: dict | Callable[[str], dict] | None = None,
    expect_allowed: Iterable[int] = (200, 302),
    denied_status: int = 403,
    api: bool | None = None,
    object_denied: Iterable[object] = (),
    object_denied_status: int = 404,
    content_type: str | None = None,
) -> dict[str, int]:
    """Assert who may use `url` with `method`:

    - anonymous → a redirect to the login page (pages) or 401 (API, i.e. under /api/);
    - every cast member not in `allowed` → `denied_status` (403, or 404 for object-scoped views);
    - every person in `object_denied` (e.g. another owner of another object, outside the cast) →
      `object_denied_status`;
    - every allowed member → one of `expect_allowed`.

    `allowed` holds roles and/or "outsider", or is EVERYONE. `data` may be a function of the member's name
    (for writes each member should act on something of their own). Returns each member's status."""
    api = url.startswith("/api/") if api is None else api
    expect_allowed = tuple(expect_allowed)
    allowed_names = _names(allowed)
    if content_type is None and api and method.lower() != "get":
        content_type = "application/json"

    def call(client: Client, who: str):
        payload = data(who) if callable(data) else data
        kwargs = {"content_type": content_type} if content_type else {}
        return getattr(client, method.lower())(url, payload, **kwargs)

    seen: dict[str, int] = {}
    response = call(client_factory(None), "anonymous")
    seen["anonymous"] = response.status_code
    if api:
        assert response.status_code == 401, f"anonymous {method.upper()} {url}: {response.status_code}, not 401"
    else:
        location = response.headers.get("Location", "")
        assert response.status_code == 302 and location.startswith(resolve_url(settings.LOGIN_URL)), (
            f"anonymous {method.upper()} {url}: {response.status_code} {location!r}, not a redirect to sign-in"
        )
    for name, user in cast.members().items():
        response = call(client_factory(user), name)
        seen[name] = response.status_code
        if name in allowed_names:
            assert response.status_code in expect_allowed, (
                f"{name} may {method.upper()} {url}, but got {response.status_code} (expected one of {expect_allowed})"
            )
        else:
            assert response.status_code == denied_status, (
                f"{name} may not {method.upper()} {url}, but got {response.status_code} (expected {denied_status})"
            )
    for user in object_denied:
        response = call(client_factory(user), user.get_username())
        seen[user.get_username()] = response.status_code
        assert response.status_code == object_denied_status, (
            f"{user.get_username()} must not reach the object at {url}, but got {response.status_code} "
            f"(expected {object_denied_status})"
        )
    return seen
