"""Celery tasks of the identities app. Thin, and defined beside the work they run (so that module never has
to import this one back); imported here because Celery's autodiscovery reads each app's `tasks` module."""

from identities.imports.jobs import IMPORT_SOFT_TIME_LIMIT, run_import_job

__all__ = ["IMPORT_SOFT_TIME_LIMIT", "run_import_job"]
