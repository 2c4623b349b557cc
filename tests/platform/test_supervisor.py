"""`make run`'s supervisor, started for real: it answers, its demo logins work, and a signal — to it alone
or to its whole process group, as a terminal's Ctrl-C does — leaves no process behind."""

from __future__ import annotations

import http.cookiejar
import os
import re
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import psycopg
import pytest
from django.conf import settings

from tests.support import ROOT, database_url, descendants, free_port, is_alive, wait_until

pytestmark = pytest.mark.slow

READY = re.compile(r"AgentIAM is running at (http://127\.0\.0\.1:\d+/)")


class Run:
    def __init__(self, env: dict[str, str], log: Path):
        self.log = log
        self.started = time.monotonic()
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "agentiam.devserver", "run"],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_ready(self, timeout: float) -> tuple[str, float]:
        def ready():
            if self.proc.poll() is not None:
                raise AssertionError(f"make run exited early:\n{self.output()}")
            return READY.search(self.output())

        match = wait_until(ready, timeout=timeout, interval=0.25, what="make run's banner")
        return match.group(1), time.monotonic() - self.started

    def stop(self, sig: int, *, group: bool) -> float:
        family = descendants(self.proc.pid)
        assert family, "the supervisor has no children"
        began = time.monotonic()
        if group:
            os.killpg(self.proc.pid, sig)
        else:
            self.proc.send_signal(sig)
        code = self.proc.wait(timeout=40)
        took = time.monotonic() - began
        time.sleep(0.5)
        left = sorted(pid for pid in family if is_alive(pid))
        assert not left, f"processes left after {signal.Signals(sig).name}: {left}\n{self.output()}"
        assert code == 0, self.output()
        return took


class Browser:
    """Just enough of a browser (cookies, CSRF) to sign in with urllib."""

    def __init__(self, base: str):
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), NoRedirect())

    def get(self, path: str):
        return self.opener.open(self.base.rstrip("/") + path, timeout=10)

    def login(self, username: str, password: str):
        page = self.get("/accounts/login/").read().decode()
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        body = urllib.parse.urlencode(
            {"username": username, "password": password, "csrfmiddlewaretoken": token, "next": "/"}
        ).encode()
        request = urllib.request.Request(
            self.base + "accounts/login/",
            data=body,
            headers={"Referer": self.base + "accounts/login/"},
        )
        return self.opener.open(request, timeout=10)


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None

    def http_error_302(self, req, fp, code, msg, headers):
        return fp


def _env(var_dir: Path, port: int, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "PYTEST_CURRENT_TEST"}
    }
    env.update(
        {
            "AGENTIAM_PROFILE": "local",
            "AGENTIAM_VAR_DIR": str(var_dir),
            "PORT": str(port),
            "WEB_CONCURRENCY": "2",
            "CELERY_CONCURRENCY": "1",
        }
    )
    env.update(extra)
    return env


def _check_answers_and_logins(base: str) -> None:
    browser = Browser(base)
    first = browser.get("/")
    assert first.status == 302
    assert first.headers["Location"] == "/accounts/login/?next=/"
    signed_in = browser.login("owner", settings.AGENTIAM_DEMO_PASSWORD)
    assert signed_in.status == 302 and signed_in.headers["Location"] == "/"
    dashboard = browser.get("/")
    assert dashboard.status == 200 and b"Dashboard" in dashboard.read()


@pytest.fixture
def scratch_database(db):
    name = f"agentiam_supervisor_{uuid.uuid4().hex[:10]}"
    admin_url = database_url("postgres")
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield database_url(name)
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_run_against_given_servers_stops_on_ctrl_c_and_restarts_quickly(scratch_database, redis_client, tmp_path):
    port = free_port()
    redis_url = re.sub(r"(db=|/)\d+$", lambda m: m.group(1) + "12", settings.REDIS_URL)
    env = _env(tmp_path / "var", port, DATABASE_URL=scratch_database, REDIS_URL=redis_url)

    first = Run(env, tmp_path / "run.log")
    base, _ = first.wait_ready(timeout=240)
    assert base == f"http://127.0.0.1:{port}/"
    assert "Demo logins" in first.output() and "owner" in first.output()
    _check_answers_and_logins(base)
    took = first.stop(signal.SIGINT, group=True)  # what a terminal's Ctrl-C sends
    assert took < 25

    again = Run(env, tmp_path / "restart.log")
    _, ready_after = again.wait_ready(timeout=60)
    assert ready_after < 20, f"restart took {ready_after:.1f} s"
    _check_answers_and_logins(base)  # the seeded logins survive, nothing was reset
    assert again.stop(signal.SIGTERM, group=False) < 25


def test_run_with_embedded_servers_leaves_nothing_behind_after_sigterm_to_its_group(tmp_path):
    port = free_port()
    var_dir = tmp_path / "var"
    run = Run(_env(var_dir, port), tmp_path / "run.log")
    base, _ = run.wait_ready(timeout=300)
    _check_answers_and_logins(base)
    assert (var_dir / "pg" / "data" / "PG_VERSION").exists()
    assert run.stop(signal.SIGTERM, group=True) < 25
    assert not list((var_dir / "run").glob("*.pid"))


def test_a_crashed_supervisor_leaves_pid_files_that_the_next_start_clears(tmp_path):
    port = free_port()
    var_dir = tmp_path / "var"
    env = _env(var_dir, port)
    crashed = Run(env, tmp_path / "run.log")
    crashed.wait_ready(timeout=300)
    family = descendants(crashed.proc.pid)
    crashed.proc.kill()  # no chance to clean up: children learn of it through their parent-death signal
    crashed.proc.wait(timeout=10)
    wait_until(lambda: not any(is_alive(pid) for pid in family), timeout=30, what="orphans to exit")
    assert list((var_dir / "run").glob("*.pid")), "a crash leaves its pid files"
    again = Run(env, tmp_path / "restart.log")
    base, _ = again.wait_ready(timeout=60)
    _check_answers_and_logins(base)
    assert again.stop(signal.SIGINT, group=True) < 25
