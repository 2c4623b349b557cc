"""State shared by the passes of one import: who imports, which files came, and SQL helpers."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from identities.imports import formats
from identities.imports.formats import Column
from identities.imports.loader import LoadedFile

UUID_RE = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"


@dataclass
class Importer:
    """Who runs the import. `user` None is the system (manage.py import_registry without --as): role rules
    do not apply, but nobody can accept a risk exception on its behalf."""

    user: object | None
    admin: bool = False
    owner_role: bool = False

    @property
    def id(self) -> int | None:
        return getattr(self.user, "pk", None)

    @property
    def system(self) -> bool:
        return self.user is None

    def params(self) -> dict:
        return {"actor": self.id, "admin": self.admin, "owner_role": self.owner_role, "system": self.system}


@dataclass
class Run:
    importer: Importer
    loaded: dict[str, LoadedFile]
    now: datetime
    counts: dict[str, dict[str, int]] = field(default_factory=dict)

    def has(self, entity: str) -> bool:
        return entity in self.loaded

    def present(self, entity: str, column: str) -> bool:
        found = self.loaded.get(entity)
        return bool(found) and column in found.columns

    def file(self, entity: str) -> str:
        found = self.loaded.get(entity)
        return found.member if found else f"{entity}.csv"

    def params(self, **extra) -> dict:
        return {**self.importer.params(), "now": self.now, **extra}


def literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def cast(column: Column, sql: str) -> str:
    kind = column.kind
    if kind == formats.BOOL:
        words = ",".join(formats.TRUE_WORDS)
        return f"(lower({sql}) = ANY('{{{words}}}'::text[]))"
    if kind == formats.INT:
        return f"({sql})::integer"
    if kind == formats.DATETIME:
        return f"pg_temp.imp_ts({sql})"
    if kind in (formats.LIST, formats.ENUM_LIST, formats.REF_LIST):
        return f"COALESCE(string_to_array({sql}, ';'), '{{}}')::text[]"
    return f"({sql})::text"


def typed(run: Run, entity: str, column: Column, src: str = "s", db: str = "d", db_column: str | None = None) -> str:
    """The value a row will have: the file's (or the column's default when the cell is empty) if the file
    has the column; otherwise the registry's current value (or the default for a new row)."""
    default = cast(column, literal(column.default)) if column.default is not None else "NULL"
    if run.present(entity, column.name):
        value = cast(column, f"{src}.{column.name}")
        return value if column.default is None else f"COALESCE({value}, {default})"
    current = f"{db}.{db_column or column.name}"
    if column.kind in (formats.LIST, formats.ENUM_LIST, formats.REF_LIST):
        current += "::text[]"
    elif column.kind in (formats.TEXT, formats.ENUM):
        current += "::text"
    return f"CASE WHEN {db}.id IS NULL THEN {default} ELSE {current} END"


def db_value(column: Column, db: str = "d") -> str:
    """The registry's current value, typed like `typed`'s, for IS DISTINCT FROM comparisons."""
    if column.kind in (formats.LIST, formats.ENUM_LIST, formats.REF_LIST):
        return f"{db}.{column.name}::text[]"
    if column.kind in (formats.TEXT, formats.ENUM):
        return f"{db}.{column.name}::text"
    return f"{db}.{column.name}"


def uuid_match(ext_sql: str) -> str:
    return f"(CASE WHEN {ext_sql} ~ '{UUID_RE}' THEN ({ext_sql})::uuid END)"
