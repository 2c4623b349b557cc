"""Child processes that the supervisor starts and stops itself, each in its own process group."""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

_PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)


def _die_with_parent(sig: int, before: Callable[[], None] | None = None):
    parent = os.getpid()

    def preexec() -> None:
        if before is not None:
            before()  # may change credentials, which clears the parent-death signal: set it afterwards
        # If the supervisor is killed outright (SIGKILL, OOM), its children get `sig` instead of living on.
        _libc.prctl(_PR_SET_PDEATHSIG, sig)
        if os.getppid() != parent:
            os._exit(1)

    return preexec


def start_time(pid: int) -> str | None:
    """The kernel's start time of a process (field 22 of /proc/PID/stat), to tell a live pid from a reused one."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def celery_worker(concurrency: str, hostname: str, *options: str) -> list[str]:
    """The command line of a Celery worker of this project: the dev server's and the tests' (with `options`)."""
    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "agentiam",
        "worker",
        "--loglevel",
        "INFO",
        "--concurrency",
        concurrency,
        *options,
        "--hostname",
        hostname,
        "--without-mingle",
        "--without-gossip",
    ]


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@dataclass
class Child:
    name: str
    argv: Sequence[str]
    log: Path
    pid_dir: Path
    env: dict[str, str] | None = None
    cwd: Path | None = None
    # How to stop it: a list of (signal, seconds to wait) tried in order, then SIGKILL to the group.
    stop_steps: Sequence[tuple[int, float]] = ((signal.SIGTERM, 5.0),)
    death_signal: int = signal.SIGTERM
    # Runs in the child before exec (e.g. enter a mount namespace and drop to another user).
    preexec: Callable[[], None] | None = field(default=None, repr=False)
    popen: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def pid_file(self) -> Path:
        return self.pid_dir / f"{self.name}.pid"

    def start(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as log:
            self.popen = subprocess.Popen(
                list(self.argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.cwd,
                start_new_session=True,  # its own session and process group: a terminal's Ctrl-C reaches only us
                preexec_fn=_die_with_parent(self.death_signal, self.preexec),
            )
        self.pid_dir.mkdir(parents=True, exist_ok=True)
        first_signal = self.stop_steps[0][0] if self.stop_steps else signal.SIGTERM
        self.pid_file.write_text(f"{self.popen.pid} {start_time(self.popen.pid)} {int(first_signal)}\n")

    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def stop(self) -> None:
        if self.popen is None:
            return
        for sig, wait in self.stop_steps:
            if self.popen.poll() is not None:
                break
            _signal_group(self.popen.pid, sig)
            try:
                self.popen.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                continue
        if self.popen.poll() is None:
            _signal_group(self.popen.pid, signal.SIGKILL)
            self.popen.wait(timeout=5)
        # The leader is gone; anything left in its group (a forked pool child) goes too.
        _signal_group(self.popen.pid, signal.SIGKILL)
        self.pid_file.unlink(missing_ok=True)


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def clear_stale(pid_dir: Path, order: Sequence[str], say) -> None:
    """Stop processes left running by a supervisor that crashed (in stop order), and drop their pid files."""
    if not pid_dir.is_dir():
        return
    files = sorted(pid_dir.glob("*.pid"), key=lambda f: order.index(f.stem) if f.stem in order else -1)
    for pid_file in files:
        try:
            pid_text, started, sig_text = pid_file.read_text().split()
            pid, sig = int(pid_text), int(sig_text)
        except (OSError, ValueError):
            pid_file.unlink(missing_ok=True)
            continue
        if alive(pid) and start_time(pid) == started:
            say(f"stopping {pid_file.stem} (pid {pid}) left running by an earlier run")
            _signal_group(pid, sig)
            deadline = time.monotonic() + 10
            while alive(pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            _signal_group(pid, signal.SIGKILL)
        pid_file.unlink(missing_ok=True)
