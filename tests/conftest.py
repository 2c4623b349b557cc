"""Suite-wide fixtures: services that must be there, an htmx client, and browser pages that fail on any
console error or CSP violation."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.test import Client

# Playwright's sync API runs an event loop in the test thread; Django would refuse ORM calls there.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

pytest_plugins = ["tests.cast"]

IN_CI = bool(os.environ.get("CI"))
CHROMIUM = Path(os.environ.get("AGENTIAM_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-results"


def missing(what: str) -> None:
    """A service or tool the test needs is not there: fail in CI (where it must be), skip elsewhere."""
    if IN_CI:
        pytest.fail(f"{what} is required in CI", pytrace=False)
    pytest.skip(f"{what} is not available here")


def pytest_sessionstart(session):
    # The suite owns its Redis database index and queue names; leftovers from an earlier run go first.
    try:
        client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2)
        client.flushdb()
        client.close()
    except redis.RedisError as error:
        if IN_CI:
            raise pytest.UsageError(f"Redis at {settings.REDIS_URL} is required in CI: {error}") from error


@pytest.fixture
def redis_client():
    try:
        client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2)
        client.ping()
    except redis.RedisError as error:
        missing(f"Redis ({error})")
    yield client
    client.close()


@pytest.fixture
def signing_keys(db) -> dict:
    """{purpose: the active SigningKey}, made as `migrate` makes them outside the test profile (audited); the
    test profile's migrate creates none, so a test's audit trail starts empty unless it asks for keys."""
    from audit.models import SigningKey
    from audit.services import signing_key_ensure

    signing_key_ensure()
    return {key.purpose: key for key in SigningKey.objects.filter(status=SigningKey.Status.ACTIVE)}


@pytest.fixture
def htmx_client(client: Client) -> Client:
    """A test client whose every request is an htmx request."""
    client.defaults["HTTP_HX_REQUEST"] = "true"
    return client


# --- Browser tests -----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    if not CHROMIUM.exists():
        missing(f"Chromium at {CHROMIUM} (apt-get install chromium)")
    return {
        **browser_type_launch_args,
        "executable_path": str(CHROMIUM),
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ],
    }


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {**browser_context_args, "viewport": {"width": 1440, "height": 900}, "locale": "en-GB"}


class PageProblems(list):
    def check(self):
        if self:
            pytest.fail("the page reported problems:\n" + "\n".join(self), pytrace=False)


# A form shown again with its errors answers 400 (or 409), and Chromium logs each such answer as a console
# error; a test that submits bad input on purpose asks for `expect_form_errors` to let those through.
FORM_ERROR_STATUS = re.compile(r"^Failed to load resource: the server responded with a status of 4(00|09) ")


@pytest.fixture
def expect_form_errors():
    """Declare that this browser test submits bad input on purpose: 400 and 409 answers are not problems."""
    return True


@pytest.fixture
def page(page, request):
    """Playwright's page, failing the test on any console error, page error or CSP violation, and saving
    a screenshot of the last state (test-results/screenshots/<test>.png) either way."""
    problems = PageProblems()
    form_errors_expected = "expect_form_errors" in request.fixturenames

    def on_console(message):
        if form_errors_expected and FORM_ERROR_STATUS.match(message.text):
            return
        if message.type in ("error", "warning") and (
            message.type == "error" or "Content Security Policy" in message.text
        ):
            problems.append(f"console {message.type}: {message.text}")

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    yield page
    shots = ARTIFACTS / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    try:
        page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
    except Exception:  # noqa: S110 - a closed page has nothing to show
        pass
    problems.check()
