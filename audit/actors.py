"""Who an audit entry names when it is not a person: an identity acting with its own token or proof, or a
named job (a Celery task, a management command, a migration hook).

`audit_record(actor=...)` takes a person (a User), an `Actor` from here, or a string. A bare `None` is named
by the job running now: every Celery task runs inside `running_job(task.name)` (connected from
AuditConfig.ready), and commands and hooks wrap their work the same way, so no entry of a job says only
"system". This module imports no app: an identity is read by duck typing (`uuid`, `name`).
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

IDENTITY = "agent"  # the kind the trail has always used for an identity acting for itself
JOB = "job"

_current_job: contextvars.ContextVar[str | None] = contextvars.ContextVar("agentiam_audit_job", default=None)


@dataclass(frozen=True)
class Actor:
    kind: str
    label: str


def job(name: str) -> Actor:
    """A named job: `job("reviews.tasks.expire_requests")`, `job("manage.py seed_demo")`."""
    return Actor(JOB, name)


def this_job(default: str) -> Actor:
    """The job running now, or `default` when called outside one (a job's body called directly)."""
    return job(_current_job.get() or default)


def identity(subject) -> Actor:
    """An identity of the registry acting with its own access token or workload proof."""
    return Actor(IDENTITY, f"identity {subject.uuid} ({subject.name})")


def person(actor):
    """What a row's person column (`created_by`, `completed_by`…) takes: the person, or None for an Actor."""
    return None if isinstance(actor, Actor) else actor


def current_job() -> str | None:
    return _current_job.get()


@contextmanager
def running_job(name: str) -> Iterator[None]:
    """Entries written inside, with no actor of their own, name this job."""
    reset = _current_job.set(name)
    try:
        yield
    finally:
        _current_job.reset(reset)


_tokens: dict[str, contextvars.Token] = {}


def job_started(sender=None, task_id=None, task=None, **kwargs) -> None:
    """celery.signals.task_prerun: the task's entries name it."""
    if task is not None and task_id is not None:
        _tokens[task_id] = _current_job.set(task.name)


def job_finished(sender=None, task_id=None, **kwargs) -> None:
    """celery.signals.task_postrun."""
    reset = _tokens.pop(task_id, None) if task_id is not None else None
    if reset is not None:
        try:
            _current_job.reset(reset)
        except ValueError:  # set in another context (eager tasks nested in a test): just clear it
            _current_job.set(None)
