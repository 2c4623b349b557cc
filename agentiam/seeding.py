"""Demo and scale data, contributed by each app's `seeds` module (a `seeds.py` or a `seeds/` package).

An app's seeds module defines ORDER (lower runs first) and either or both of
``demo(out) -> list[str]`` (idempotent: a second run neither duplicates nor resets anything; returns
lines to print) and ``scale(n, out)`` (large data sets for benchmarks, written with COPY or bulk inserts).
"""

from __future__ import annotations

from importlib import import_module
from types import ModuleType

from django.apps import apps


def seed_modules() -> list[ModuleType]:
    found = []
    for config in apps.get_app_configs():
        try:
            found.append(import_module(f"{config.name}.seeds"))
        except ModuleNotFoundError as error:
            if error.name != f"{config.name}.seeds":
                raise
    return sorted(found, key=lambda module: getattr(module, "ORDER", 100))
