"""The registry export in two forms: exact (the default, and export_registry's: importing it changes nothing)
and spreadsheet-safe (the browser download): a cell starting with = + - @, a tab or a carriage return gets a
leading apostrophe, so a spreadsheet shows it as text instead of running it."""

from __future__ import annotations

import csv
import io
import zipfile

import pytest
from django.urls import reverse

from identities import services
from identities.imports.export import registry_export

pytestmark = pytest.mark.django_db

FORMULAS = ['=HYPERLINK("http://x")', "+1+1", "-2+3", "@SUM(A1)", "\tTAB", "\rCR"]


def rows(archive: bytes, name: str) -> list[list[str]]:
    with zipfile.ZipFile(io.BytesIO(archive)) as opened:
        return list(csv.reader(io.StringIO(opened.read(name).decode(), newline="")))


def descriptions(archive: bytes) -> set[str]:
    table = rows(archive, "identities.csv")
    column = table[0].index("description")
    return {row[column] for row in table[1:]}


@pytest.fixture
def formulas(cast):
    for n, text in enumerate(FORMULAS):
        services.identity_create(
            actor=cast.identity_owner, kind="agent", name=f"f{n}", environment="dev", description=text
        )


def test_the_exact_export_keeps_cells_verbatim_and_the_spreadsheet_export_defuses_them(cast, formulas):
    exact, safe = io.BytesIO(), io.BytesIO()
    registry_export(exact, actor=cast.administrator)
    registry_export(safe, actor=cast.administrator, spreadsheet_safe=True)
    assert set(FORMULAS) <= descriptions(exact.getvalue())
    assert {"'" + text for text in FORMULAS} <= descriptions(safe.getvalue())
    assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in descriptions(safe.getvalue()))


def test_the_browser_download_is_spreadsheet_safe_and_the_api_default_is_exact(cast, formulas, client_factory):
    client = client_factory(cast.administrator)
    page = client.get(reverse("imports")).content.decode()
    assert "?cells=spreadsheet" in page
    download = client.get("/api/v1/import/export/?cells=spreadsheet")
    assert '\'=HYPERLINK("http://x")' in descriptions(b"".join(download.streaming_content))
    exact = client.get("/api/v1/import/export/")
    assert '=HYPERLINK("http://x")' in descriptions(b"".join(exact.streaming_content))
    refused = client.get("/api/v1/import/export/?cells=excel")
    assert refused.status_code == 400 and "cells" in refused.json()["fields"]
