"""`make run` and `make test`: start what AgentIAM needs, watch it, and stop all of it on a signal.

Stop order on SIGINT / SIGTERM / SIGHUP (sent to us alone or to our whole process group): gunicorn, the
Celery worker (cold shutdown after a timeout), beat, Redis, PostgreSQL — each child lives in its own
process group, so a terminal's Ctrl-C reaches only this process and the order holds.
"""

from __future__ import annotations

import fcntl
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from agentiam.devserver.bootstrap import ROOT
from agentiam.devserver.embedded import (
    ServiceError,
    postgres_plan,
    redis_plan,
    wait_for_postgres,
    wait_for_redis,
)
from agentiam.devserver.processes import Child, celery_worker, clear_stale

STOP_ORDER = ["gunicorn", "worker", "beat", "redis", "postgres"]


class Shutdown(Exception):
    pass


def say(message: str) -> None:
    print(f"agentiam: {message}", flush=True)


def _on_signal(signum, frame):
    # Later signals (make forwards SIGTERM to us as well) must not interrupt the orderly stop.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    raise Shutdown(signal.Signals(signum).name)


class Supervisor:
    def __init__(self, var_dir: Path, *, durable: bool):
        self.var_dir = var_dir
        self.log_dir = var_dir / "log"
        self.pid_dir = var_dir / "run"
        self.durable = durable
        self.children: list[Child] = []
        self.env = dict(os.environ)
        self.env["AGENTIAM_VAR_DIR"] = str(var_dir)
        self.env.setdefault("PYTHONUNBUFFERED", "1")

    def lock(self, purpose: str) -> None:
        self.var_dir.mkdir(parents=True, exist_ok=True)
        self._lock = open(self.var_dir / f".{purpose}.lock", "w")  # noqa: SIM115 - held for our lifetime
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ServiceError(f"another `make {purpose}` is already using {self.var_dir}") from None

    def start_services(self) -> None:
        """Start embedded PostgreSQL and Redis unless DATABASE_URL / REDIS_URL point elsewhere."""
        clear_stale(self.pid_dir, STOP_ORDER, say)
        if not os.environ.get("DATABASE_URL"):
            plan = postgres_plan(self.var_dir, self.log_dir, self.pid_dir, say, durable=self.durable)
            self._start(plan.child)
            wait_for_postgres(plan)
            self.env["DATABASE_URL"] = plan.url
            say(f"embedded PostgreSQL is up (data in {plan.data_dir})")
        if not os.environ.get("REDIS_URL"):
            child, url = redis_plan(self.var_dir, self.log_dir, self.pid_dir, durable=self.durable)
            self._start(child)
            wait_for_redis(child, url)
            self.env["REDIS_URL"] = url
            self.env.pop("CELERY_BROKER_URL", None)
            say(f"embedded Redis is up (data in {self.var_dir / 'redis'})")

    def _start(self, child: Child) -> None:
        child.start()
        self.children.append(child)

    def manage(self, *args: str, capture: bool = False) -> str:
        result = subprocess.run(
            [sys.executable, str(ROOT / "manage.py"), *args],
            env=self.env,
            cwd=ROOT,
            text=True,
            check=False,
            start_new_session=True,
            stdout=subprocess.PIPE if capture else None,
            stderr=subprocess.STDOUT if capture else None,
        )
        if result.returncode != 0:
            output = f"\n{result.stdout}" if capture else ""
            raise ServiceError(f"`manage.py {' '.join(args)}` failed with exit code {result.returncode}{output}")
        return result.stdout or ""

    def app_child(self, name: str, argv: list[str], stop_steps) -> Child:
        return Child(
            name=name,
            argv=argv,
            log=self.log_dir / f"{name}.log",
            pid_dir=self.pid_dir,
            env=self.env,
            cwd=ROOT,
            stop_steps=stop_steps,
        )

    def stop_all(self) -> None:
        started = {child.name: child for child in self.children}
        ordered = [started[name] for name in STOP_ORDER if name in started]
        ordered += [child for child in self.children if child.name not in STOP_ORDER]
        for child in ordered:
            if child.popen is not None and child.running():
                say(f"stopping {child.name}")
            child.stop()
        self.children.clear()

    def watch(self) -> str:
        while True:
            for child in self.children:
                if not child.running():
                    return child.name
            time.sleep(0.5)


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _wait_http(url: str, child: Child, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not child.running():
            raise ServiceError(f"gunicorn exited at start; see {child.log}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - our own loopback URL
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            time.sleep(0.2)
    raise ServiceError(f"the web server did not answer {url} within {timeout:.0f} s; see {child.log}")


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def run(argv: list[str]) -> int:
    port_text = os.environ.get("PORT", "8000")
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        say(f"PORT must be a TCP port number; got {port_text!r}")
        return 2
    port = int(port_text)
    var_dir = Path(os.environ.get("AGENTIAM_VAR_DIR", ROOT / "var")).resolve()
    sup = Supervisor(var_dir, durable=True)
    sup.env["AGENTIAM_PROFILE"] = os.environ.get("AGENTIAM_PROFILE", "local")
    started_at = time.monotonic()
    try:
        sup.lock("run")
        if not _port_free(port):
            raise ServiceError(f"port {port} on 127.0.0.1 is in use; set PORT to a free one (PORT=8001 make run)")
        sup.start_services()
        say("applying database migrations and loading the demo data (once)")
        logins = sup.manage("prepare_run", capture=True)
        workers = os.environ.get("WEB_CONCURRENCY", "3")
        gunicorn = sup.app_child(
            "gunicorn",
            [
                sys.executable,
                "-m",
                "gunicorn",
                "agentiam.wsgi",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                workers,
                "--graceful-timeout",
                "4",
                "--timeout",
                "60",
                "--access-logfile",
                str(sup.log_dir / "access.log"),
                "--error-logfile",
                "-",
            ],
            stop_steps=((signal.SIGTERM, 5.0),),
        )
        sup._start(gunicorn)
        sup._start(
            sup.app_child(
                "worker",
                celery_worker(os.environ.get("CELERY_CONCURRENCY", "2"), f"worker-{port}@%h"),
                # SIGTERM is Celery's warm shutdown (finish running tasks); SIGQUIT its cold one.
                stop_steps=((signal.SIGTERM, 5.0), (signal.SIGQUIT, 2.0)),
            )
        )
        sup._start(
            sup.app_child(
                "beat",
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "agentiam",
                    "beat",
                    "--loglevel",
                    "INFO",
                    "--scheduler",
                    "django_celery_beat.schedulers:DatabaseScheduler",
                    "--pidfile=",
                ],
                stop_steps=((signal.SIGTERM, 2.0),),
            )
        )
        _wait_http(f"http://127.0.0.1:{port}/healthz", gunicorn, timeout=60)
        url = f"http://127.0.0.1:{port}/"
        print(
            f"\n  AgentIAM is running at {url}  (started in {time.monotonic() - started_at:.0f} s)\n"
            f"  {logins.strip()}\n"
            f"  Logs: {sup.log_dir}   Stop: Ctrl-C\n",
            flush=True,
        )
        failed = sup.watch()
        say(f"{failed} stopped unexpectedly; last lines of its log:\n{_tail(sup.log_dir / (failed + '.log'))}")
        return 1
    except Shutdown as why:
        say(f"{why} received: stopping")
        return 0
    except ServiceError as error:
        say(f"cannot start: {error}")
        return 1
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        sup.stop_all()
        say("stopped")


def test(argv: list[str]) -> int:
    """Run the suite against DATABASE_URL / REDIS_URL when set, or against embedded servers in var/test."""
    sup = Supervisor((ROOT / "var" / "test").resolve(), durable=False)
    sup.env["AGENTIAM_PROFILE"] = "test"
    try:
        if not (os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL")):
            sup.lock("test")  # the embedded test servers in var/test serve one run at a time
        sup.start_services()
        result = subprocess.run([sys.executable, "-m", "pytest", *argv], env=sup.env, cwd=ROOT, check=False)
        return result.returncode
    except Shutdown as why:
        say(f"{why} received: stopping")
        return 130
    except ServiceError as error:
        say(f"cannot start the test servers: {error}")
        return 1
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        sup.stop_all()


def main(argv: list[str]) -> int:
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _on_signal)
    command, rest = argv[0], argv[1:]
    if command == "run":
        return run(rest)
    if command == "test":
        return test(rest)
    return 2
