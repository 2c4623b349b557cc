"""Registry import and export: a ZIP of CSV or JSON Lines files, one per entity type (see `formats`).

`registry_import` (runner.py) loads the files into temporary staging tables with COPY, checks them
set-wise in SQL, and writes everything in one transaction or nothing; `registry_export` (export.py) writes
the same format with COPY (SELECT …) TO STDOUT.
"""
