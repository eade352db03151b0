"""The package's shape: no import cycles, and imports only point down the pipeline's layers.

Every import counts, including those inside functions and under TYPE_CHECKING: a lazy
import is still a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "assistant"

# Lower layers never import higher ones: files -> documents -> chunks -> index (and its build) ->
# hits -> answer -> briefing/evaluation/page views (and a build's Ray workers) -> pipeline/render -> the two adapters.
LAYERS = {
    "types": 0, "config": 0, "errors": 0, "atomic": 0,
    "ingest": 1,
    "indexing": 2,
    "answer": 3,
    "briefing": 4, "evaluation": 4, "distributed": 4, "pageview": 4,
    "pipeline": 5, "render": 5,
    "web": 6,
    "cli": 7,
    "__init__": 8, "__main__": 8,
}
# Within indexing/: the build writes versions through the stores and search code, which never
# reach back into the build (a server that only answers loads none of it).
INDEXING_BUILD = "assistant.indexing.build"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def internal_imports(path: Path) -> set[str]:
    """The assistant modules a file imports (a package's name for `from pkg import module`)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "assistant"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "assistant":
                continue
            for alias in node.names:  # `from . import store` imports a module, not a name
                candidate = f"{target}.{alias.name}"
                found.add(candidate if candidate in MODULES else target)
    return found - {name}


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}
GRAPH = {name: internal_imports(path) for name, path in MODULES.items()}


def layer(name: str) -> int:
    parts = name.split(".")
    return LAYERS[parts[1]] if len(parts) > 1 else LAYERS["__init__"]


def test_every_module_belongs_to_a_layer() -> None:
    assert {name.split(".")[1] for name in MODULES if "." in name} <= set(LAYERS)


def test_no_import_cycles() -> None:
    cycles: list[list[str]] = []
    state: dict[str, str] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(GRAPH.get(node, ())):
            if state.get(nxt) == "open":
                cycles.append([*trail[trail.index(nxt):], nxt])
            elif nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = "done"

    for start in sorted(GRAPH):
        if start not in state:
            visit(start, [start])
    assert cycles == []


@pytest.mark.parametrize("name", sorted(MODULES))
def test_imports_point_down_the_layers(name: str) -> None:
    upward = sorted(t for t in GRAPH[name] if t in MODULES and layer(t) > layer(name))
    assert upward == [], f"{name} imports a higher layer"


def test_nothing_in_indexing_imports_the_build() -> None:
    others = [n for n in MODULES if n.startswith("assistant.indexing.") and not in_build(n)]
    offenders = {n: sorted(t for t in GRAPH[n] if in_build(t)) for n in others}
    assert {n: t for n, t in offenders.items() if t} == {}


def in_build(name: str) -> bool:
    return name == INDEXING_BUILD or name.startswith(INDEXING_BUILD + ".")


def test_the_library_never_imports_an_adapter() -> None:
    library = [n for n in MODULES if layer(n) < LAYERS["web"]]
    offenders = {n: sorted(t for t in GRAPH[n] if t.startswith(("assistant.cli", "assistant.web"))) for n in library}
    assert {n: t for n, t in offenders.items() if t} == {}


def test_the_walk_sees_real_edges() -> None:
    # Guards the walker itself: an import graph it failed to read would pass every test above.
    assert "assistant.pipeline" in GRAPH["assistant.cli.commands"]
    assert "assistant.cli.commands" in GRAPH["assistant.cli.parser"]
    assert "assistant.indexing.store.records" in GRAPH["assistant.indexing.store.reader"]
    assert "assistant.web.assets" in GRAPH["assistant.web.app"]
    assert "assistant.indexing.build" in GRAPH["assistant.pipeline"]
    assert "assistant.indexing.store" in GRAPH["assistant.indexing.build.driver"]
    assert "assistant.ingest.passages" in GRAPH["assistant.ingest.chunking"]
    assert "assistant.render" in GRAPH["assistant.web.app"]
