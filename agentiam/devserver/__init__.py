"""The supervisor behind `make run` and `make test`.

It starts with the standard library only (the project's dependencies are not installed yet), creates
`.venv` and installs the project into it, then re-executes itself inside the virtual environment.
"""
