"""Helpers for tests that start real processes against the test database and Redis."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

from django.conf import settings
from django.db import connection
from django.test import Client

from agentiam.devserver.processes import alive, celery_worker
from agentiam.stepup import SESSION_AT, SESSION_USER

ROOT = Path(__file__).resolve().parent.parent


def database_url(name: str | None = None) -> str:
    """A DATABASE_URL for the server the suite runs on (the test database unless another name is given)."""
    params = connection.settings_dict
    host = params.get("HOST") or ""
    auth = quote(params.get("USER") or "postgres", safe="")
    if params.get("PASSWORD"):
        auth += ":" + quote(params["PASSWORD"], safe="")
    port = f":{params['PORT']}" if params.get("PORT") else ""
    return f"postgresql://{auth}@{quote(host, safe='')}{port}/{name or params['NAME']}"


def child_env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
    env.update({"AGENTIAM_PROFILE": "test", "DATABASE_URL": database_url(), "REDIS_URL": settings.REDIS_URL})
    env.update(overrides)
    return env


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(predicate, timeout: float, interval: float = 0.2, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"{what} did not happen within {timeout:.0f} s")


def run_manage(*args: str, env: dict[str, str], without: tuple[str, ...]) -> subprocess.CompletedProcess:
    """manage.py in a child process whose environment is this one's minus the variables whose names start with
    one of `without`, plus `env`."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(without)}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen:
    with open(log, "wb") as out:
        return subprocess.Popen(
            celery_worker("1", f"test-{os.getpid()}@%h", "--pool", "solo"),
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def descendants(pid: int) -> set[int]:
    """Every live process below `pid`, read from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found: set[int] = set()
    stack = [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in found:
                found.add(child)
                stack.append(child)
    return found


is_alive = alive  # the dev server's own test of a live process


def enter_as(page, live_server, user, *, step_up: bool = False) -> None:
    """A browser signed in as `user` without the form (second factor passed; `step_up`: just stepped up as well):
    the browser's cookies are cleared and it is handed a test client's session."""
    page.context.clear_cookies()
    client = Client()
    sign_in(client, user)
    if step_up:
        session = client.session
        session[SESSION_AT], session[SESSION_USER] = int(time.time()), user.pk
        session.save()
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    page.context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": live_server.url}])


def sign_in(client, user):
    """Sign `user` in on a test client as if they had also passed their second factor.

    Every test that signs a person in goes through here, so the second-factor and step-up rules of the
    sign-in flow apply to tests exactly as they do to people."""
    client.force_login(user)
    from django.conf import settings

    if "django_otp" in settings.INSTALLED_APPS:
        from django_otp.plugins.otp_totp.models import TOTPDevice

        device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
        if device is None:
            device = TOTPDevice.objects.create(user=user, name="test device", confirmed=True)
        session = client.session
        session["otp_device_id"] = device.persistent_id
        session.save()
    return client


def totp_code(device, *, steps_ahead: int = 0) -> str:
    """The code `device` (a django-otp TOTPDevice) shows now, or `steps_ahead` time steps later (a code is
    accepted once: a second check in the same 30 seconds needs the next step's code)."""
    from django_otp.oath import TOTP

    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time() + steps_ahead * device.step
    return f"{totp.token():0{device.digits}d}"
