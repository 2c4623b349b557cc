"""Create `.venv` and install the project into it; standard library only."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENV = ROOT / ".venv"
STAMP = VENV / ".agentiam-install.json"


def _say(message: str) -> None:
    print(f"agentiam: {message}", flush=True)


def _wanted_hash() -> str:
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes())
    digest.update(sys.version.encode())
    return digest.hexdigest()


def _installed(extras: tuple[str, ...]) -> bool:
    try:
        stamp = json.loads(STAMP.read_text())
    except (OSError, ValueError):
        return False
    return stamp.get("hash") == _wanted_hash() and set(extras) <= set(stamp.get("extras", []))


def _install(python: Path, extras: tuple[str, ...]) -> None:
    previous: list[str] = []
    try:
        previous = json.loads(STAMP.read_text()).get("extras", [])
    except (OSError, ValueError):
        pass
    everything = tuple(sorted(set(extras) | set(previous)))
    target = f".[{','.join(everything)}]" if everything else "."
    _say(f"installing AgentIAM and its dependencies into .venv ({target}); the first time takes a few minutes")
    quiet = ["--disable-pip-version-check", "--no-input", "-q"]
    subprocess.run([python, "-m", "pip", "install", *quiet, "--upgrade", "pip"], check=True, cwd=ROOT)
    subprocess.run([python, "-m", "pip", "install", *quiet, "-e", target], check=True, cwd=ROOT)
    STAMP.write_text(json.dumps({"hash": _wanted_hash(), "extras": list(everything)}))


def ensure_venv(extras: tuple[str, ...]) -> None:
    """Make sure we run inside ROOT/.venv with the project installed; re-exec into it if needed."""
    if sys.version_info < (3, 11):
        sys.exit("agentiam: Python 3.11 or newer is needed (3.11 or 3.12 recommended)")
    inside = Path(sys.prefix).resolve() == VENV.resolve()
    python = VENV / "bin" / "python"
    try:
        if not inside and not python.exists():
            _say(f"creating {VENV.relative_to(ROOT)} with {sys.executable}")
            subprocess.run([sys.executable, "-m", "venv", VENV], check=True)
        if not _installed(extras):
            _install(python, extras)
    except subprocess.CalledProcessError as error:
        sys.exit(f"agentiam: setting up .venv failed ({error}); fix the message above and run again")
    if not inside:
        os.execv(python, [str(python), "-m", "agentiam.devserver", *sys.argv[1:]])
