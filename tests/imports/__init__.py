"""Imports: the registry import and export."""
