import sys

from agentiam.devserver.bootstrap import ensure_venv

if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) > 1 else "run"
    if command not in {"run", "test", "services"}:
        sys.exit(f"usage: python -m agentiam.devserver run|test|services [args]; got {command!r}")
    ensure_venv(extras=("dev",) if command == "test" else ())
    from agentiam.devserver.supervisor import main

    sys.exit(main(sys.argv[1:]))
