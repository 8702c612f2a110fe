"""The package's layers: data flows down, imports never run up, and no package cycle exists.

Every ``import`` and ``from ... import`` of the package is read from the source (also those
inside functions), so a deferred import cannot hide a cycle.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import sbdenoise

ROOT = Path(sbdenoise.__file__).parent

#: Layer of each top-level module or subpackage: a unit may import units of its own layer or
#: lower ones only. ``sbdenoise`` itself (the version) is importable everywhere.
LAYERS = {
    "sbdenoise": 0,
    "errors": 0,
    "progress": 0,
    "metrics": 0,
    "config": 0,
    "io": 0,
    "noise": 1,
    "specimen": 1,
    "synthetic": 1,
    "simulate": 2,
    "baselines": 2,
    "nn": 2,
    "training": 3,
    "pretrained": 4,
    "denoise": 4,
    "analysis": 5,
    "fileinfo": 5,
    "report": 5,
    "bmz": 5,
    "demo": 6,
    "series": 6,
    "match": 6,
    "hyperspy": 6,
    "napari": 6,
    "experiments": 6,
    "fitting": 6,
    "cli": 7,
    "__main__": 7,
}


def _unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "sbdenoise"


def _imports() -> dict[tuple[str, str], list[str]]:
    """(importing unit, imported unit) -> files where it happens."""
    edges: dict[tuple[str, str], list[str]] = defaultdict(list)
    for path in ROOT.rglob("*.py"):
        relative = path.relative_to(ROOT.parent).with_suffix("")
        module = ".".join(relative.parts).removesuffix(".__init__")
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                targets = [node.module] if node.module.startswith("sbdenoise") else []
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names if a.name.startswith("sbdenoise")]
            else:
                continue
            for target in targets:
                if _unit(module) != _unit(target):
                    edges[(_unit(module), _unit(target))].append(str(relative))
    return edges


def test_every_unit_has_a_layer():
    units = {
        p.stem if p.is_file() else p.name for p in ROOT.iterdir() if not p.name.startswith("_")
    }
    units = {u for u in units if (ROOT / u).is_dir() or (ROOT / f"{u}.py").exists()}
    units.discard("__pycache__")
    missing = sorted(units - set(LAYERS) - {"pretrained"})
    assert not missing, f"give these a layer in tests/test_layers.py: {missing}"


def test_no_import_runs_up_the_layers():
    upward = {
        edge: files for edge, files in _imports().items() if LAYERS[edge[1]] > LAYERS[edge[0]]
    }
    assert not upward, f"imports running up the layers: {upward}"


def test_no_cycle_between_units():
    graph: dict[str, set[str]] = defaultdict(set)
    for source, target in _imports():
        graph[source].add(target)
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                raise AssertionError(f"import cycle: {' -> '.join([*path, node, nxt])}")
            if nxt not in state:
                visit(nxt, [*path, node])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [])
