"""docs/permissions.md is the project's reference for who may do what: it must match the code."""

from __future__ import annotations

import re
from pathlib import Path

from agentiam.permissions import ROLE_LABELS, Role
from tests.platform.test_permissions_declared import declaration, endpoints

DOC = Path(__file__).resolve().parents[2] / "docs" / "permissions.md"
PRODUCT_ROLES = ["administrator", "identity owner", "manager", "compliance officer", "security analyst", "auditor"]


def documented() -> dict[str, str]:
    """path → "who" from the table under "## Pages and endpoints"."""
    section = DOC.read_text().split("## Pages and endpoints", 1)[1]
    rows = {}
    for line in section.splitlines():
        match = re.match(r"^\|\s*`([^`]+)`\s*\|[^|]*\|\s*([^|]+?)\s*\|", line)
        if match:
            rows[match.group(1)] = match.group(2)
    return rows


def test_every_documented_page_exists_with_the_roles_the_page_says():
    code = {endpoint.path: declaration(endpoint) for endpoint in endpoints()}
    wrong = {
        path: (who, code.get(path, "does not exist")) for path, who in documented().items() if code.get(path) != who
    }
    assert not wrong, "docs/permissions.md disagrees with the code (documented, actual):\n" + "\n".join(
        f"  {path}: {pair}" for path, pair in wrong.items()
    )


def test_every_page_and_endpoint_is_documented():
    missing = [endpoint.path for endpoint in endpoints() if endpoint.path not in documented()]
    assert not missing, "add these to the table in docs/permissions.md:\n  " + "\n  ".join(missing)


def test_the_role_table_names_every_role_of_the_product():
    text = DOC.read_text()
    for role in Role:
        assert f"| `{role.value}` | {ROLE_LABELS[role]} |" in text
    for label in [*PRODUCT_ROLES, "outsider (no role)"]:
        assert re.search(rf"^\| {re.escape(label)} \|", text, re.MULTILINE), label
