"""Pagination for the API. Cursor (keyset) pagination is the default: every page costs the same however
deep it is, rows inserted meanwhile never shift a page, and no COUNT(*) runs on large tables. Page
numbers are only for small, bounded lists, where a total is cheap and useful.

A cursor comes back from the client, so it is input: one that does not decode, or whose position is not a
value of the ordering column (a date where an id belongs, an id past the column's range), answers 400
`invalid_cursor` naming the `cursor` parameter before any query runs."""

from __future__ import annotations

from django.core.exceptions import FieldDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import pagination
from rest_framework.exceptions import APIException, NotFound

ERR_CURSOR = "The cursor is not one this list handed out; start again from the first page (no cursor)."


class InvalidCursor(APIException):
    status_code = 400
    default_code = "invalid_cursor"
    default_detail = ERR_CURSOR
    fields = {"cursor": [ERR_CURSOR]}


class CursorPagination(pagination.CursorPagination):
    # Newest first on the primary key: unique, indexed and monotonic, which keyset pagination needs.
    ordering = "-pk"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200

    def paginate_queryset(self, queryset, request, view=None):
        self._model = queryset.model
        return super().paginate_queryset(queryset, request, view)

    def decode_cursor(self, request):
        try:
            cursor = super().decode_cursor(request)
        except NotFound:  # DRF's answer to a cursor that does not decode
            raise InvalidCursor() from None
        if cursor is not None and cursor.position is not None:
            self._check_position(cursor.position)
        return cursor

    def _check_position(self, position: str) -> None:
        name = self.ordering[0].lstrip("-") if isinstance(self.ordering, list | tuple) else self.ordering.lstrip("-")
        model = getattr(self, "_model", None)
        try:
            field = model._meta.pk if name == "pk" else model._meta.get_field(name)
        except (AttributeError, FieldDoesNotExist):
            return  # an annotation: PostgreSQL compares it as given
        try:
            field.run_validators(field.to_python(position))
        except (DjangoValidationError, ValueError, TypeError, OverflowError):
            raise InvalidCursor() from None


class SmallPagePagination(pagination.PageNumberPagination):
    """For lists that stay small (tens or hundreds of rows): page numbers and a total count."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
