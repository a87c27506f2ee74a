"""The packages of `src/clearinghouse` import each other only downwards, in the layers the README draws.

The import graph is built from the source with `ast` (every `import` and `from ... import`, including those
inside functions), so a lazy import cannot hide a cycle. A new package must be given a layer here and in the
README's picture.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[1] / "src" / "clearinghouse"

# Lowest first. A package may import packages of lower layers only: never its own layer's peers, never upwards.
LAYERS: list[set[str]] = [
    {"errors", "data", "files"},
    {"config", "schemas", "statemachine", "safeparse"},
    {"records"},
    {"formats"},
    {"identity"},
    {"policy"},
    {"store"},
    {"ingest", "sharing", "notify"},
    {"intake", "frontier"},
    {"cases"},
    {"partners", "feeds"},
    {"evals"},
    {"reproduce"},
    {"workers"},
    {"api"},
    {"web"},
    {"cli"},
    {"__main__", "__init__"},
]
LAYER_OF = {package: index for index, layer in enumerate(LAYERS) for package in layer}


def package_of(path: Path) -> str:
    return path.relative_to(SOURCE).parts[0].removesuffix(".py")


def imported_packages(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "clearinghouse" and len(parts) > 1:
                found.add(parts[1])
    return found


def import_graph() -> dict[str, dict[str, list[str]]]:
    """{package: {imported package: [files importing it]}}, between different packages only."""
    graph: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for path in sorted(SOURCE.rglob("*.py")):
        package = package_of(path)
        for target in imported_packages(path) - {package}:
            graph[package][target].append(str(path.relative_to(SOURCE)))
    return graph


def test_every_package_has_a_layer() -> None:
    packages = {package_of(path) for path in SOURCE.rglob("*.py")}
    assert packages - set(LAYER_OF) == set(), "give the new package a layer here and in the README"


def test_packages_import_only_lower_layers() -> None:
    upward = [
        f"{package} -> {target} ({', '.join(files)})"
        for package, targets in import_graph().items()
        for target, files in targets.items()
        if LAYER_OF.get(target, -1) >= LAYER_OF.get(package, -1)
    ]
    assert upward == []


def test_the_graph_has_no_cycle() -> None:
    graph = {package: set(targets) for package, targets in import_graph().items()}
    visiting: set[str] = set()
    done: set[str] = set()

    def visit(package: str, path: list[str]) -> None:
        assert package not in visiting, "import cycle: " + " -> ".join([*path, package])
        if package in done:
            return
        visiting.add(package)
        for target in sorted(graph.get(package, ())):
            visit(target, [*path, package])
        visiting.discard(package)
        done.add(package)

    for package in sorted(graph):
        visit(package, [])


def test_the_check_sees_a_cycle_through_a_lazy_import(tmp_path: Path) -> None:
    module = tmp_path / "lazy.py"
    module.write_text("def f():\n    from clearinghouse.cli.main import app\n    import clearinghouse.api.app\n")
    assert imported_packages(module) == {"cli", "api"}
