"""The shape of core: no import cycles, dependencies point down, nothing in core reaches the engine or the UI.

Every import counts, also one inside a function or under TYPE_CHECKING: a cycle that only a late
import keeps from failing is still two modules that cannot be read (or changed) one without the other.
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Layers from the bottom up (../shared/ARCHITECTURE.md, "Dependencies point down"). A package imports
# only what is below it; the packages of one layer are peers and leave each other alone. In the two
# bottom layers of single modules, a module may use its neighbours (config uses errors and vocab).
LAYERS: list[set[str]] = [
    {"core", "core.errors", "core.numbers", "core.vocab"},
    {"core.atomic", "core.workspace", "core.config"},
    {"core.data", "core.models", "core.training", "core.evaluation"},
    {"core.runs"},
    {"core.explain", "core.tuning"},
    {"core.export"},  # a bundle's model card carries the run's explanation
    {"core.lifecycle"},  # optimises runs and their ONNX export, monitors what the server predicts
    {"core.engine"},
]


def _modules() -> dict[str, Path]:
    out = {}
    for path in (ROOT / "core").rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """The core modules `name` imports, resolved to modules (`from core.data import split` -> core.data.split)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in MODULES:
                target = target.rpartition(".")[0]  # `import core.data.split as s` or a name inside a module
            if target and target != name and target.startswith("core"):
                found.add(target)
    return found


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _package(module: str) -> str:
    """core.runs.store -> core.runs; core.config -> core.config (a top-level module is a unit of its own)."""
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) >= 2 else module


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one member (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _is_ancestor_package(target: str, module: str) -> bool:
    return module.startswith(target + ".")


def test_no_module_imports_another_that_imports_it_back():
    # A package's __init__ re-exporting its submodules is no cycle of its own making: leave out a
    # module's edges to the packages that contain it (`from core.explain import cache` inside
    # core.explain.service resolves to core.explain.cache already).
    graph = {m: {t for t in deps if not _is_ancestor_package(t, m)} for m, deps in GRAPH.items()}
    assert _cycles(graph) == []


def test_no_cycle_between_core_packages():
    packages: dict[str, set[str]] = {}
    for module, deps in GRAPH.items():
        packages.setdefault(_package(module), set()).update(_package(d) for d in deps if _package(d) != _package(module))
    assert _cycles(packages) == []


def test_dependencies_point_down_the_layers():
    layer_of = {unit: i for i, units in enumerate(LAYERS) for unit in units}
    units = {_package(m) for m in MODULES}
    assert units <= set(layer_of), f"put {sorted(units - set(layer_of))} in a layer of this test"
    def wrong(module: str, dep: str) -> bool:
        mine, theirs = layer_of[_package(module)], layer_of[_package(dep)]
        return theirs > mine or (theirs == mine > 1 and _package(dep) != _package(module))

    assert sorted(f"{m} -> {d}" for m, deps in GRAPH.items() for d in deps if wrong(m, d)) == []


def test_nothing_in_core_imports_the_engine():
    assert sorted(m for m, deps in GRAPH.items() if "core.engine" in deps) == []


def test_core_never_imports_streamlit():
    offenders = []
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                if any(n == "streamlit" or n.startswith("streamlit.") for n in names):
                    offenders.append(name)
    assert offenders == []


def test_the_walker_sees_late_and_type_checking_imports():
    # the walker itself: the trainer imports its callbacks at the top, execute_run imports the trainer
    assert "core.training.callbacks" in GRAPH["core.training.trainer"]
    assert "core.runs.store" in GRAPH["core.runs.execute"]
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
