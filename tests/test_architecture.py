"""The import graph of segkit has no circles (docs/architecture.md: imports only go down).

Every module under ``segkit/`` is parsed with ``ast`` (nothing is imported, so this runs in
well under a second). Every ``import``/``from ... import`` counts, at module level and inside
functions alike: a function-level import that closes a circle only hides it until the
function runs. Relative imports are resolved against the importing module.

Rules for what is an edge ``A -> B`` (both segkit modules):

* ``import segkit.x.y`` and ``from segkit.x import y`` (``y`` a submodule) point at that module.
* ``from segkit.x import name`` where ``segkit/x/__init__.py`` re-exports ``name`` from one of
  its submodules points at that submodule (followed through further re-exports): an
  ``__init__`` is a façade, and importing a name through it depends on the module that
  defines the name, not on every sibling the façade also imports.
* Any other ``from segkit.x import name`` points at the package ``segkit.x`` itself.
* An import of one of the importer's own parent packages (``import segkit`` in
  ``segkit.runs.fingerprint`` for ``__version__``) is no edge: Python always initialises a
  parent package before its children, so it orders nothing.
* Imports under ``if TYPE_CHECKING:`` are no edges: they never run.

A package ``__init__`` importing its own submodules is then never a circle with them (a
submodule reaches a name of its package through the re-export rule above, to the defining
module). A circle that remains is a real one: the modules it lists import each other.
"""
from __future__ import annotations

import ast
import functools
import importlib
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "segkit"

# old module path -> where it moved; the old path is a shim kept for old imports for one release
MOVED = {
    "segkit.losses_base": "segkit.losses.base",
    "segkit.losses_rare": "segkit.losses.rare",
    "segkit.losses_distill": "segkit.losses.distill",
    "segkit.losses_mpa": "segkit.adapt.mpa",
    "segkit.engine.adapt_config": "segkit.adapt.config",
    "segkit.engine.adapt_stages": "segkit.adapt.stages",
    "segkit.engine.adapt_train": "segkit.adapt.train",
    "segkit.engine.pseudo_labels": "segkit.adapt.pseudo_labels",
    "segkit.engine.mpa_features": "segkit.adapt.features",
    "segkit.executors.base": "segkit.experiments.executors.base",
    "segkit.executors.local": "segkit.experiments.executors.local",
    "segkit.executors.slurm": "segkit.experiments.executors.slurm",
    "segkit.rundir": "segkit.runs.rundir",
    "segkit.engine.fingerprint": "segkit.runs.fingerprint",
}
# old module.name -> the module it moved to; the old module finds it there on first use (segkit/_moved.py)
MOVED_NAMES = {
    **{f"segkit.engine.{n}": "segkit.adapt" for n in ("adapt", "AdaptConfig", "AdaptResult", "read_adaptation")},
    "segkit.report.ensure_run": "segkit.experiments.runs",
    "segkit.report.runs.ensure_run": "segkit.experiments.runs",
    **{f"segkit.report.experiments.{n}": "segkit.experiments.grid" for n in ("ensure_bench", "run_experiment",
                                                                           "train_config")},
    "segkit.report.adaptation.run_adaptation": "segkit.experiments.adaptation",
    **{f"segkit.executors.{n}": "segkit.experiments.executors" for n in ("make_executor", "SlurmExecutor", "RunJob")},
}


def _modules() -> dict[str, Path]:
    mods = {}
    for path in sorted((ROOT / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        mods[".".join(parts)] = path
    return mods


def _is_package(mods: dict[str, Path], name: str) -> bool:
    return mods[name].name == "__init__.py"


def _resolve_from(mods: dict[str, Path], module: str, node: ast.ImportFrom) -> str | None:
    """The absolute module name of a ``from X import ...`` in `module` (None outside segkit)."""
    if node.level:
        base = module.split(".") if _is_package(mods, module) else module.split(".")[:-1]
        base = base[:len(base) - (node.level - 1)]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    return target if target == PACKAGE or target.startswith(PACKAGE + ".") else None


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    """ids of the import nodes inside ``if TYPE_CHECKING:`` blocks."""
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If):
            test = node.test
            name = test.id if isinstance(test, ast.Name) else test.attr if isinstance(test, ast.Attribute) else None
            if name == "TYPE_CHECKING":
                skip.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    return skip


def _imports(mods: dict[str, Path]) -> tuple[dict[str, list[tuple[str, str | None, int]]], dict[str, dict[str, str]]]:
    """Per module: (imported module, imported name or None, line); per package: its re-exports."""
    raw: dict[str, list[tuple[str, str | None, int]]] = {}
    reexports: dict[str, dict[str, str]] = {}
    for name, path in mods.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        skip = _type_checking_nodes(tree)
        found = []
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            if isinstance(node, ast.Import):
                found += [(a.name, None, node.lineno) for a in node.names
                          if a.name == PACKAGE or a.name.startswith(PACKAGE + ".")]
            elif isinstance(node, ast.ImportFrom):
                target = _resolve_from(mods, name, node)
                if target is not None:
                    found += [(target, a.name, node.lineno) for a in node.names]
        raw[name] = found
        if _is_package(mods, name):  # module-level re-exports of the package's own submodules
            reexports[name] = {
                (a.asname or a.name): target
                for node in tree.body if isinstance(node, ast.ImportFrom)
                for target in [_resolve_from(mods, name, node)]
                if target is not None and target.startswith(name + ".") and target in mods
                for a in node.names
            }
    return raw, reexports


def _target(mods: dict[str, Path], reexports: dict[str, dict[str, str]], module: str, name: str | None) -> str | None:
    if name is not None and f"{module}.{name}" in mods:
        return f"{module}.{name}"
    seen = set()
    while name is not None and module in reexports and name in reexports[module] and module not in seen:
        seen.add(module)
        module = reexports[module][name]
        if f"{module}.{name}" in mods:
            return f"{module}.{name}"
    if module in mods:
        return module
    parent = module.rsplit(".", 1)[0]  # ``import segkit.x.attr`` of a non-module: the module that holds it
    return parent if parent in mods else None


@functools.lru_cache(maxsize=1)
def import_graph() -> dict[str, dict[str, int]]:
    """segkit module -> {segkit module it imports: first line}."""
    mods = _modules()
    raw, reexports = _imports(mods)
    graph: dict[str, dict[str, int]] = {m: {} for m in mods}
    for module, found in raw.items():
        for target, name, line in found:
            dest = _target(mods, reexports, target, name)
            if dest is None or dest == module or module.startswith(dest + "."):
                continue  # itself, or a parent package (initialised before its children anyway)
            graph[module].setdefault(dest, line)
    return graph


def knots(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan): modules that all reach each other."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    comps: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:  # the graph has ~300 modules: recursion depth is no problem
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                comps.append(comp)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return [sorted(c) for c in comps]


def find_cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """One circle through each knot, e.g. ``["a", "b", "a"]``."""
    return [_circle(graph, set(k)) for k in knots(graph)]


def _circle(graph: dict[str, dict[str, int]], comp: set[str]) -> list[str]:
    """One circle inside a strongly connected component (breadth-first back to the start)."""
    start = min(comp)
    prev = {start: None}
    queue = [start]
    while queue:
        v = queue.pop(0)
        for w in sorted(graph[v]):
            if w == start:
                path = [v]
                while prev[path[-1]] is not None:
                    path.append(prev[path[-1]])
                return [*reversed(path), start]
            if w in comp and w not in prev:
                prev[w] = v
                queue.append(w)
    return sorted(comp)


def _describe(graph: dict[str, dict[str, int]], circle: list[str]) -> str:
    return "  " + "\n  -> ".join(
        f"{a}  (line {graph[a][b]} imports {b})" for a, b in zip(circle, circle[1:])) + f"\n  -> {circle[-1]}"


def test_no_import_circles():
    graph = import_graph()
    assert len(graph) > 100 and any(graph.values())  # the walk found segkit and its imports
    found = knots(graph)
    assert not found, "import circles between segkit modules (docs/architecture.md):\n" + "\n\n".join(
        _describe(graph, _circle(graph, set(k))) + f"\n  (modules in this knot: {', '.join(k)})" for k in found)


def test_the_checker_sees_circles():
    """The rules above on a small made-up graph: a circle, a function-level one, none."""
    assert find_cycles({"a": {"b": 1}, "b": {"c": 2}, "c": {"a": 3}}) == [["a", "b", "c", "a"]]
    assert find_cycles({"a": {"b": 1}, "b": {}, "c": {"a": 1}}) == []


def test_reexports_and_relative_imports_resolve():
    graph = import_graph()
    # from .palette import ... (relative) in segkit.data.stats
    assert "segkit.data.palette" in graph["segkit.data.stats"]
    # ``from segkit.data import read_image`` goes to the module defining it, not the package façade
    assert "segkit.data" not in graph["segkit.engine.predict"]
    assert "segkit.data.voc" in graph["segkit.engine.predict"]
    # a function-level import counts (segkit.engine.build imports models inside build_model_from_config)
    assert any(t.startswith("segkit.models") for t in graph["segkit.engine.build"])


def test_moved_modules_keep_their_old_paths():
    for old, new in MOVED.items():
        assert importlib.import_module(old) is importlib.import_module(new), old
    for old, new in MOVED_NAMES.items():  # ``from segkit.engine import AdaptConfig`` as before
        module, name = old.rsplit(".", 1)
        assert getattr(importlib.import_module(module), name) is getattr(importlib.import_module(new), name), old


def test_importing_the_trainer_does_not_import_adaptation():
    code = ("import sys, segkit.engine, segkit.engine.trainer; "
            "print(sorted(m for m in sys.modules if m.startswith('segkit.adapt') or 'losses_mpa' in m))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}).stdout
    assert out.strip() == "[]"
