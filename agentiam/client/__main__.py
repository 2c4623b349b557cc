"""python -m agentiam.client demo [--url URL] [--secrets PATH]"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from agentiam.client.demo import DEFAULT_URL, default_secrets, run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m agentiam.client", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="play an agent, a gateway and a tool server against AgentIAM")
    demo.add_argument("--url", default=DEFAULT_URL, help=f"AgentIAM's base URL (default {DEFAULT_URL})")
    demo.add_argument("--secrets", type=Path, help=f"the demo credentials file (default {default_secrets()})")
    args = parser.parse_args(argv)
    return run(args.url, args.secrets)


if __name__ == "__main__":
    sys.exit(main())
