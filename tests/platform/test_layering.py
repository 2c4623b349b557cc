"""The import contracts of pyproject.toml hold (the layering of docs/architecture.md, no import cycles), and
the two contracts written for this project find what they promise to on packages made for the purpose."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import grimp
import pytest

from tests.platform.import_contracts import AcyclicModulesContract, ImportedOnlyByContract, module_cycles

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def contracts() -> list[dict]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]


def test_every_import_contract_is_kept():
    result = subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    report = result.stdout + result.stderr
    assert result.returncode == 0, report
    assert f"Contracts: {len(contracts())} kept, 0 broken." in report, report


def test_the_contracts_say_what_the_architecture_says():
    by_id = {contract["id"]: contract for contract in contracts()}
    assert by_id["apps"]["layers"] == ["reviews", "identities", "audit", "agentiam"]
    assert by_id["identities"]["layers"][1] == "runtime"
    assert by_id["no-cycles"]["containers"] == ["agentiam", "audit", "identities", "reviews"]
    upper = {"audit.events", "audit.alerts", "audit.compliance", "audit.evidence"}
    assert set(by_id["audit-upper"]["modules"]) == upper


@pytest.fixture
def package(tmp_path, monkeypatch):
    """Write a throwaway package `pkg` from {module: source} and return its grimp graph."""

    def make(files: dict[str, str]):
        for name, source in {"__init__": "", **files}.items():
            path = tmp_path / "pkg" / f"{name.replace('.', '/')}.py"
            path.parent.mkdir(parents=True, exist_ok=True)
            (path.parent / "__init__.py").touch()
            path.write_text(textwrap.dedent(source))
        monkeypatch.syspath_prepend(str(tmp_path))
        return grimp.build_graph("pkg", cache_dir=None)

    return make


def contract(cls, **options):
    return cls(name="test", session_options={}, contract_options=options)


def test_a_cycle_through_an_import_inside_a_function_breaks_the_no_cycle_contract(package):
    graph = package(
        {
            "trail": "def later():\n    from pkg import tasks\n",
            "tasks": "from pkg import checkpoints\n",
            "checkpoints": "from pkg.trail import later\n",
            "leaf": "from pkg import checkpoints\n",
        }
    )
    assert module_cycles(graph) == [["pkg.checkpoints", "pkg.trail", "pkg.tasks", "pkg.checkpoints"]]
    check = contract(AcyclicModulesContract, containers=["pkg"]).check(graph, verbose=False)
    assert not check.kept and check.metadata["cycles"] == module_cycles(graph)


def test_without_the_cycle_the_no_cycle_contract_is_kept(package):
    graph = package({"trail": "", "tasks": "from pkg import checkpoints\n", "checkpoints": "from pkg import trail\n"})
    assert contract(AcyclicModulesContract, containers=["pkg"]).check(graph, verbose=False).kept


def test_an_upper_app_imported_by_anything_but_a_url_configuration_breaks_its_contract(package):
    graph = package(
        {
            "events.models": "",
            "events.views": "from pkg.events import models\n",
            "urls": "from pkg.events import views\n",
            "registry": "from pkg.events.models import *\n",
        }
    )
    options = {"modules": ["pkg.events", "pkg.alerts"], "allowed_importers": ["**.urls", "pkg.urls"]}
    check = contract(ImportedOnlyByContract, **options).check(graph, verbose=False)
    assert not check.kept and check.metadata["imports"] == [("pkg.registry", "pkg.events.models")]
