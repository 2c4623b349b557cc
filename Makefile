# The README's two commands. Both need only Python 3.11+ and make: everything else installs into .venv.
SHELL := /bin/sh
PYTHON ?= $(shell for p in python3.12 python3.11 python3 python; do \
	$$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1 && { echo $$p; break; }; done)
ARGS ?=

.PHONY: run test lint clean check-python

check-python:
	@test -n "$(PYTHON)" || { echo "agentiam: Python 3.11 or newer is needed (python3.11 or python3.12)"; exit 1; }

# Start PostgreSQL, Redis, gunicorn, a Celery worker and beat; Ctrl-C stops them all.
# `exec` hands the signals of a terminal (or of `kill`) straight to the supervisor.
run: check-python
	exec $(PYTHON) -m agentiam.devserver run

# Run the whole suite (against DATABASE_URL / REDIS_URL when set, embedded servers otherwise).
test: check-python
	exec $(PYTHON) -m agentiam.devserver test $(ARGS)

# ruff, then the import contracts of pyproject.toml (layering, no cycles); `make test` creates .venv.
lint:
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/lint-imports

clean:
	rm -rf var
