"""The registry: identities, grants, tasks and the rest, through pages, API and services."""
