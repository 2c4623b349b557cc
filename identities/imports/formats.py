"""The registry's exchange format: one file per entity type in a ZIP, CSV or JSON Lines, each row with an
external id. Import and export both read this module, so they cannot drift apart.

Values are text in CSV. Lists are written `a;b;c` in CSV and as arrays in JSON Lines; scopes are JSON
objects (JSON text in CSV); booleans are `true`/`false`; times are ISO 8601 (UTC when no offset is given).
A reference names another row's external id: a row of the same ZIP, or a registry object by its external
id or, when it has none, by its public id (UUID) — which is what an export writes for objects created in
the browser or the API.
"""

from __future__ import annotations

from dataclasses import dataclass

from identities.models import (
    Action,
    CredentialKind,
    DataClass,
    Environment,
    Exposure,
    Hosting,
    IdentifierKind,
    IdentityKind,
    RiskTier,
    StorageKind,
    SystemKind,
)
from identities.risk import CAPABILITIES

TEXT, ENUM, BOOL, INT, DATETIME, LIST, ENUM_LIST, JSON, REF, REF_LIST = (
    "text",
    "enum",
    "bool",
    "int",
    "datetime",
    "list",
    "enum_list",
    "json",
    "ref",
    "ref_list",
)
LIST_SEPARATOR = ";"
TRUE_WORDS = ("true", "t", "yes", "y", "1")
FALSE_WORDS = ("false", "f", "no", "n", "0")
EXTERNAL_ID_MAX = 200


@dataclass(frozen=True)
class Column:
    name: str
    kind: str = TEXT
    required: bool = False
    choices: tuple[str, ...] = ()
    max_length: int | None = None
    ref: str | None = None  # the entity a REF / REF_LIST column points to
    default: str | None = None  # the value of a new row when the cell is empty
    help: str = ""


@dataclass(frozen=True)
class Entity:
    name: str  # file stem: identities.csv / identities.jsonl
    label: str  # one row, in messages
    columns: tuple[Column, ...]

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)

    def attributes(self) -> tuple[str, ...]:
        """The columns that are the row's own fields, as the table names them (no external id, no references)."""
        return tuple(c.name for c in self.columns if c.name != "external_id" and c.kind not in (REF, REF_LIST))


def _choices(enum) -> tuple[str, ...]:
    return tuple(value for value in enum.values if value)


EXTERNAL_ID = Column("external_id", required=True, max_length=EXTERNAL_ID_MAX, help="unique within its file")

PERSONS = Entity(
    "persons",
    "person",
    (
        EXTERNAL_ID,
        Column("email", required=True, max_length=254, help="resolved to exactly one person; never created"),
    ),
)
SYSTEMS = Entity(
    "systems",
    "system",
    (
        EXTERNAL_ID,
        Column("name", required=True, max_length=200),
        Column("kind", ENUM, required=True, choices=_choices(SystemKind)),
        Column("description", default=""),
        Column("vendor", max_length=200, default=""),
    ),
)
TOOLS = Entity(
    "tools",
    "tool",
    (
        EXTERNAL_ID,
        Column("system", REF, required=True, ref="systems"),
        Column("key", required=True, max_length=200),
        Column("name", required=True, max_length=200),
        Column("description", default=""),
        Column("actions", ENUM_LIST, required=True, choices=_choices(Action)),
        Column("sensitivity", ENUM, choices=_choices(RiskTier), default="low"),
        Column("data_class", ENUM, choices=_choices(DataClass), default="internal"),
        Column("production", BOOL, default="false"),
        Column("production_secrets", BOOL, default="false"),
        Column("third_party", BOOL, default="false"),
    ),
)
IDENTITIES = Entity(
    "identities",
    "identity",
    (
        EXTERNAL_ID,
        Column("kind", ENUM, required=True, choices=_choices(IdentityKind)),
        Column("name", required=True, max_length=200),
        Column("description", default=""),
        Column("environment", ENUM, required=True, choices=_choices(Environment)),
        Column("hosting", ENUM, choices=_choices(Hosting), default="other"),
        Column("cloud_account", max_length=200, default=""),
        Column("region", max_length=64, default=""),
        Column("exposure", ENUM, choices=_choices(Exposure), default="internal"),
        Column("capabilities", ENUM_LIST, choices=tuple(CAPABILITIES), default=""),
        Column("model_provider", max_length=64, default=""),
        Column("model_name", max_length=128, default=""),
        Column("parent", REF, ref="identities", help="the parent agent of a sub-agent"),
        Column("allowed_image_digests", LIST, max_length=100, default=""),
        Column("source_repository", max_length=300, default=""),
        Column("source_commit", max_length=64, default=""),
        Column("attestation_signer", max_length=300, default=""),
        Column("person", REF, ref="persons", help="the person a human identity is"),
        Column("owner", REF, ref="persons", help="accountable owner; empty leaves ownership as it is"),
    ),
)
IDENTIFIERS = Entity(
    "identifiers",
    "identifier",
    (
        EXTERNAL_ID,
        Column("identity", REF, required=True, ref="identities"),
        Column("kind", ENUM, required=True, choices=_choices(IdentifierKind)),
        Column("value", required=True, max_length=2048),
    ),
)
ENTITLEMENTS = Entity(
    "entitlements",
    "entitlement",
    (
        EXTERNAL_ID,
        Column("identity", REF, required=True, ref="identities"),
        Column("tool", REF, required=True, ref="tools"),
        Column("action", ENUM, required=True, choices=_choices(Action)),
        Column("scope", JSON, default="{}"),
        Column("expires_at", DATETIME),
        Column("reason", default=""),
        Column("exception_reason", default="", help="accepts the risk of standing write/admin on a high tier"),
        Column("exception_until", DATETIME),
    ),
)
CREDENTIALS = Entity(
    "credentials",
    "credential",
    (
        EXTERNAL_ID,
        Column("name", required=True, max_length=200),
        Column("kind", ENUM, required=True, choices=_choices(CredentialKind)),
        Column("fingerprint", required=True, max_length=128, help="hex digest; never the secret"),
        Column("is_static", BOOL, default="true"),
        Column("ttl_seconds", INT),
        Column("storage_kind", ENUM, choices=_choices(StorageKind), default="unknown"),
        Column("storage_location", max_length=500, default=""),
        Column("issued_at", DATETIME, required=True),
        Column("last_rotated_at", DATETIME),
        Column("expires_at", DATETIME),
        Column("holders", REF_LIST, required=True, ref="identities"),
        Column("entitlements", REF_LIST, ref="entitlements", default=""),
    ),
)

# Dependency order: a file only refers to files before it (identities refer to themselves for parents).
ENTITIES: tuple[Entity, ...] = (PERSONS, SYSTEMS, TOOLS, IDENTITIES, IDENTIFIERS, ENTITLEMENTS, CREDENTIALS)
BY_NAME = {entity.name: entity for entity in ENTITIES}
EXTENSIONS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
