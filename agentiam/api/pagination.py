"""Pagination for the API. Cursor (keyset) pagination is the default: every page costs the same however
deep it is, rows inserted meanwhile never shift a page, and no COUNT(*) runs on large tables. Page
numbers are only for small, bounded lists, where a total is cheap and useful."""

from __future__ import annotations

from rest_framework import pagination


class CursorPagination(pagination.CursorPagination):
    # Newest first on the primary key: unique, indexed and monotonic, which keyset pagination needs.
    ordering = "-pk"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


class SmallPagePagination(pagination.PageNumberPagination):
    """For lists that stay small (tens or hundreds of rows): page numbers and a total count."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
