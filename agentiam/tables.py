"""A reusable list table: whitelisted sorting, django-filter filters, free-text search and keyset
pagination, rendered by templates/components/table.html.

Keyset (cursor) pagination orders by (sort column, primary key) and continues after the last row seen,
so a deep page costs what the first one does and no page runs COUNT(*), whatever the table's size.
Cursors are signed: a tampered or stale one shows the first page, never a 500.

    class EntryTable(Table):
        id = "audit-table"
        columns = [Column("time", "Time", sort_field="occurred_at", descending_first=True), Column("actor", "Actor")]
        default_sort = "-time"
        filterset_class = AuditEntryFilter
        search_fields = ("action", "object_label")
        row_template = "audit/entry_list.html#row"

    table = EntryTable(request, AuditEntry.objects.all())
    render(request, "audit/entry_list.html#table" if partial else "audit/entry_list.html", {"table": table})

A sortable column's field must be a non-null concrete field of the model (keyset comparisons skip NULLs).
"""

from __future__ import annotations

import datetime
import decimal
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from functools import reduce
from operator import or_
from typing import Any

from django.core import signing
from django.db.models import Model, Q, QuerySet
from django.http import HttpRequest, QueryDict

_SALT = "agentiam.tables.cursor"
MAX_SEARCH = 200


@dataclass(frozen=True)
class Column:
    key: str  # the name used in ?sort=
    label: str
    sort_field: str | None = None  # None: not sortable
    descending_first: bool = False  # a first click sorts newest/largest first
    css: str = ""  # class on the header and cells: "num", "nowrap", "wide"…


def _plain(value: Any) -> Any:
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    return value


class Table:
    id: str = "table"
    caption: str = ""
    columns: Sequence[Column] = ()
    default_sort: str = ""  # a column key, "-" in front for descending; empty: the primary key, newest first
    filterset_class = None
    search_fields: Sequence[str] = ()
    search_placeholder: str = "Search"
    page_size: int = 50
    row_template: str = ""
    empty_title: str = "Nothing here yet"
    empty_text: str = ""
    filtered_empty_title: str = "Nothing matches these filters"
    filtered_empty_text: str = "Try fewer filters or another search."

    def __init__(self, request: HttpRequest, queryset: QuerySet):
        self.request = request
        self.params = request.GET
        self.model: type[Model] = queryset.model
        self.sort_key, self.descending = self._read_sort()
        self.search = (self.params.get("q") or "").strip()[:MAX_SEARCH]
        self.filterset = (
            self.filterset_class(self.params, queryset=queryset, request=request) if self.filterset_class else None
        )
        self.filters_valid = self.filterset is None or self.filterset.is_valid()
        self.cursor_invalid = False
        if self.filters_valid:
            queryset = self.filterset.qs if self.filterset is not None else queryset
            self.rows, self.next_cursor, self.previous_cursor = self._paginate(self._searched(queryset))
        else:
            self.rows, self.next_cursor, self.previous_cursor = [], None, None

    # --- reading the request ------------------------------------------------------------------------------

    def _column(self, key: str) -> Column | None:
        return next((column for column in self.columns if column.key == key and column.sort_field), None)

    def _read_sort(self) -> tuple[str, bool]:
        for raw in (self.params.get("sort") or "", self.default_sort):
            key = raw.lstrip("-")
            if key and self._column(key):
                return key, raw.startswith("-")
        return "", True

    @property
    def sort_field(self) -> str:
        column = self._column(self.sort_key)
        return column.sort_field if column else "pk"

    def _searched(self, queryset: QuerySet) -> QuerySet:
        if not self.search or not self.search_fields:
            return queryset
        return queryset.filter(reduce(or_, (Q(**{f"{name}__icontains": self.search}) for name in self.search_fields)))

    # --- keyset pagination --------------------------------------------------------------------------------

    def _encode(self, row: Model, backwards: bool) -> str:
        field = self.sort_field
        value = None if field == "pk" else _plain(getattr(row, field))
        return signing.dumps([self.sort_key, value, row.pk, backwards], salt=_SALT, compress=True)

    def _decode(self, raw: str):
        try:
            sort_key, value, pk, backwards = signing.loads(raw, salt=_SALT)
            if sort_key != self.sort_key:
                return None  # made for another ordering
            if self.sort_field != "pk":
                value = self.model._meta.get_field(self.sort_field).to_python(value)
            return value, self.model._meta.pk.to_python(pk), bool(backwards)
        except Exception:  # any malformed cursor means "start at the beginning"
            self.cursor_invalid = True
            return None

    def _after(self, value, pk, descending: bool) -> Q:
        op = "lt" if descending else "gt"
        if self.sort_field == "pk":
            return Q(**{f"pk__{op}": pk})
        return Q(**{f"{self.sort_field}__{op}": value}) | Q(**{self.sort_field: value, f"pk__{op}": pk})

    def _paginate(self, queryset: QuerySet):
        raw = self.params.get("cursor")
        cursor = self._decode(raw) if raw else None
        backwards = bool(cursor and cursor[2])
        walking_descending = self.descending != backwards
        prefix = "-" if walking_descending else ""
        order = [f"{prefix}pk"] if self.sort_field == "pk" else [f"{prefix}{self.sort_field}", f"{prefix}pk"]
        if cursor:
            queryset = queryset.filter(self._after(cursor[0], cursor[1], walking_descending))
        rows = list(queryset.order_by(*order)[: self.page_size + 1])
        more = len(rows) > self.page_size
        rows = rows[: self.page_size]
        if backwards:
            rows.reverse()
            has_previous, has_next = more, True
        else:
            has_previous, has_next = cursor is not None, more
        next_cursor = self._encode(rows[-1], backwards=False) if has_next and rows else None
        previous_cursor = self._encode(rows[0], backwards=True) if has_previous and rows else None
        return rows, next_cursor, previous_cursor

    # --- what the template needs --------------------------------------------------------------------------

    def url(self, **changes) -> str:
        query = self.params.copy()
        for name, value in changes.items():
            if value is None:
                query.pop(name, None)
            else:
                query[name] = value
        encoded = query.urlencode()
        return f"{self.request.path}?{encoded}" if encoded else self.request.path

    @property
    def headers(self) -> list[dict]:
        headers = []
        for column in self.columns:
            header = {"label": column.label, "css": column.css, "sortable": bool(column.sort_field)}
            if column.sort_field:
                active = column.key == self.sort_key
                descending_next = not self.descending if active else column.descending_first
                header["url"] = self.url(sort=("-" if descending_next else "") + column.key, cursor=None)
                header["direction"] = ("desc" if self.descending else "asc") if active else ""
                header["aria_sort"] = {"asc": "ascending", "desc": "descending"}.get(header["direction"], "none")
            headers.append(header)
        return headers

    @property
    def next_url(self) -> str | None:
        return self.url(cursor=self.next_cursor) if self.next_cursor else None

    @property
    def previous_url(self) -> str | None:
        return self.url(cursor=self.previous_cursor) if self.previous_cursor else None

    @property
    def is_filtered(self) -> bool:
        if self.search:
            return True
        if self.filterset is None:
            return False
        return any(self.params.get(name) for name in self.filterset.form.fields)

    @property
    def clear_url(self) -> str:
        query = QueryDict(mutable=True)
        if self.params.get("sort"):
            query["sort"] = self.params["sort"]
        return f"{self.request.path}?{query.urlencode()}" if query else self.request.path

    @property
    def column_count(self) -> int:
        return len(self.columns)
