"""A custom import-linter contract: no import cycle between modules, counting imports inside functions.

import-linter's own `acyclic_siblings` squashes each package into one node, so it reports package-level
cycles that are not module cycles (identities.views → identities.runtime.services and
identities.runtime.views → identities.views are fine) and says nothing about modules in one package. grimp's
graph has an edge for every import statement, at module level or inside a function, which is what "no cycles,
even through local imports" means; this contract finds its strongly connected components.

Beside it, `imported_only_by`: modules (which may not exist yet, like audit's upper apps) that nothing imports
but the importers named. Both are registered in pyproject.toml ([tool.importlinter] contract_types).
"""

from __future__ import annotations

from importlinter.application import output
from importlinter.domain import fields
from importlinter.domain.contract import Contract, ContractCheck
from importlinter.domain.helpers import module_expressions_to_modules


def module_cycles(graph, modules: set[str] | None = None) -> list[list[str]]:
    """Every strongly connected component of more than one module, each as the modules of one cycle in
    import order (a → b → … → a), sorted. Iterative Tarjan: the graph has a few thousand modules."""
    modules = set(graph.modules) if modules is None else modules
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    counter = 0
    for root in sorted(modules):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root) & modules)))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.find_modules_directly_imported_by(child) & modules))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    components.append(_as_cycle(graph, set(component)))
    return sorted(components)


def _as_cycle(graph, component: set[str]) -> list[str]:
    """One cycle through the component's first module (a → … → a), to show a reader where to cut."""
    start = min(component)
    for middle in sorted(graph.find_modules_directly_imported_by(start) & component):
        back = graph.find_shortest_chain(importer=middle, imported=start)
        if back:
            return [start, *back]
    return sorted(component)


class AcyclicModulesContract(Contract):
    type_name = "acyclic_modules"

    containers = fields.ListField(subfield=fields.StringField())

    def check(self, graph, verbose: bool) -> ContractCheck:
        roots = tuple(self.containers)  # type: ignore[arg-type]
        modules = {m for m in graph.modules if m in roots or m.startswith(tuple(f"{r}." for r in roots))}
        cycles = module_cycles(graph, modules)
        return ContractCheck(kept=not cycles, warnings=[], metadata={"cycles": cycles})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for cycle in check.metadata["cycles"]:
            output.print_error(" -> ".join(cycle))
            output.new_line()


class ImportedOnlyByContract(Contract):
    """`modules` (which may not exist yet) are imported by nothing outside themselves but `allowed_importers`
    (module expressions, wildcards allowed). Direct imports, at module level or inside functions."""

    type_name = "imported_only_by"

    modules = fields.ListField(subfield=fields.StringField())
    allowed_importers = fields.ListField(subfield=fields.ModuleExpressionField())

    def check(self, graph, verbose: bool) -> ContractCheck:
        allowed = {
            module.name
            for module in module_expressions_to_modules(graph, self.allowed_importers)  # type: ignore[arg-type]
        }
        offending = []
        for name in self.modules:  # type: ignore[attr-defined]
            family = {m for m in graph.modules if m == name or m.startswith(f"{name}.")}
            for target in sorted(family):
                for importer in sorted(graph.find_modules_that_directly_import(target)):
                    if importer not in family and importer not in allowed:
                        offending.append((importer, target))
        return ContractCheck(kept=not offending, warnings=[], metadata={"imports": offending})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for importer, imported in check.metadata["imports"]:
            output.print_error(f"{importer} -> {imported}")
            output.new_line()
