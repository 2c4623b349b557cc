"""Where checkpoints are copied outside the database.

Someone who can rewrite the database can also delete its checkpoints; they should not also be able to
rewrite this copy (in production: a file on another volume, shipped off the host, or made append-only with
`chattr +a`). A sink only ever appends, and is written after the checkpoint's transaction commits.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from django.conf import settings

NOT_A_RECORD = "{line} of {path} is not a checkpoint record"


class SinkError(Exception):
    pass


class CheckpointSink(Protocol):
    def append(self, record: dict) -> None:
        """Append one checkpoint record durably; return only once it is stored."""

    def last(self) -> dict | None:
        """The most recently appended record, or None."""

    def records(self) -> Iterator[dict]:
        """Every record in order. What it yields ends where the sink ended when it was called, so a
        verifier can read the sink first and then take its database snapshot."""


class JsonlFileSink:
    """One JSON object per line, appended with O_APPEND and fsync'd."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def __str__(self):
        return str(self.path)

    def append(self, record: dict) -> None:
        line = (json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n").encode()
        created = not self.path.exists()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            # One write call per line: appends of a few hundred bytes are not interleaved.
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)
        if created:  # make the new directory entry durable too
            dir_fd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)

    def last(self) -> dict | None:
        try:
            with open(self.path, "rb") as handle:
                size = handle.seek(0, os.SEEK_END)
                handle.seek(max(0, size - 65536))
                lines = [line for line in handle.read().splitlines() if line.strip()]
        except FileNotFoundError:
            return None
        if not lines:
            return None
        return self._parse(lines[-1], "the last line")

    def records(self) -> Iterator[dict]:
        try:
            end = self.path.stat().st_size
        except FileNotFoundError:
            return iter(())
        return self._read(end)

    def _read(self, end: int) -> Iterator[dict]:
        with open(self.path, "rb") as handle:
            number = 0
            while handle.tell() < end:
                line = handle.readline()
                number += 1
                if line.strip():
                    yield self._parse(line, f"line {number}")

    def _parse(self, line: bytes, where: str) -> dict:
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        if not isinstance(record, dict):
            raise SinkError(NOT_A_RECORD.format(line=where, path=self.path))
        return record


def get_sink() -> CheckpointSink:
    """The configured sink: settings.AUDIT_CHECKPOINT_SINK, a file path."""
    return JsonlFileSink(settings.AUDIT_CHECKPOINT_SINK)
