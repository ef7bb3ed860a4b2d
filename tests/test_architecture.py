"""The import graph of segkit has no circles and no import up the layers (docs/architecture.md).

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
  A package that re-exports lazily lists its names in a ``_MODULES`` table (".submodule" ->
  names, imported by its ``__getattr__`` on first use); those names resolve the same way.
* Any other ``from segkit.x import name`` points at the package ``segkit.x`` itself.
* An import of one of the importer's own parent packages (``import segkit`` in
  ``segkit.runs.fingerprint`` for ``__version__``) is no edge: Python always initialises a
  parent package before its children, so it orders nothing.
* Imports under ``if TYPE_CHECKING:`` are no edges: they never run.

A package ``__init__`` importing its own submodules is then never a circle with them (a
submodule reaches a name of its package through the re-export rule above, to the defining
module). A circle that remains is a real one: the modules it lists import each other.

The layers are written once, in ``LAYERS`` below (docs/architecture.md's table lists the same
names in the same order, which a test checks). Every module has a layer and imports only from
its own layer or a lower one; the only exceptions are the shims of moved modules (``SHIMS``:
they import their new home, whatever its layer) and ``UPWARD_ALLOWED``, function-level imports
that defer a heavy optional dependency, each with its reason. A name that moved up a layer is
found lazily by ``segkit._moved.moved_names`` (by module name, so no edge); ``MOVED_NAMES`` lists
every one of them.
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
    "segkit.report.runner": "segkit.report.pipeline.runner",
    "segkit.report.export": "segkit.report.pipeline.export",
    "segkit.report.notebook": "segkit.report.pipeline.notebook",
    **{f"segkit.engine.{m}": f"segkit.runtime.{m}" for m in ("distributed", "precision", "threads")},
    **{f"segkit.engine.{m}": f"segkit.inference.{m}" for m in ("evaluate", "predict", "export")},
    **{f"segkit.engine.{m}": f"segkit.training.{m}" for m in (
        "budget", "build", "checkpoint", "config", "early_stop", "ema", "from_runs", "hooks", "loop", "optim",
        "rare_setup", "recipe", "schedule", "tensorboard", "trainer")},
}
# old module.name -> the module it moved to; the old module finds it there on first use (segkit/_moved.py)
MOVED_NAMES = {
    **{f"segkit.engine.{n}": "segkit.adapt" for n in ("adapt", "AdaptConfig", "AdaptResult", "read_adaptation")},
    "segkit.report.ensure_run": "segkit.experiments.runs",
    "segkit.report.runs.ensure_run": "segkit.experiments.runs",
    **{f"segkit.report.experiments.{n}": "segkit.experiments.grid" for n in ("ensure_bench", "run_experiment",
                                                                           "train_config")},
    "segkit.report.adaptation.run_adaptation": "segkit.experiments.adaptation",
    "segkit.bench.module_cost.plot_module_cost": "segkit.report.module_cost",
}


# The layers, lowest first. A module belongs to the longest name here that it is or lies under
# ("segkit" itself, the lazy top-level API, is only that one module).
LAYERS: list[tuple[str, ...]] = [
    ("segkit._utils", "segkit._registry", "segkit._typecheck", "segkit._moved"),
    ("segkit.metrics",),
    ("segkit.data",),
    ("segkit.modules",),
    ("segkit.stitch",),
    ("segkit.models",),
    ("segkit.losses",),
    ("segkit.runs",),
    ("segkit.runtime",),
    ("segkit.inference",),
    ("segkit.training",),
    ("segkit.engine",),
    ("segkit.adapt",),
    ("segkit.bench",),
    ("segkit.cam",),
    ("segkit.report",),
    ("segkit.experiments",),
    ("segkit.commands", "segkit.cli", "segkit.__main__", "segkit"),
]

# old module paths kept for one release; they import their new home, whatever its layer
SHIMS = set(MOVED) | {"segkit.executors"}  # segkit.executors: a package re-exporting experiments.executors

# (importer, imported) -> why a function-level import may go up: it defers a heavy optional dependency.
# None is needed today; add one only with its reason.
UPWARD_ALLOWED: dict[tuple[str, str], str] = {}


def layer_of(module: str) -> int | None:
    """The index in LAYERS of `module` (None: in no layer)."""
    best: tuple[int, int] | None = None
    for i, names in enumerate(LAYERS):
        for name in names:
            inside = module == name or (name != PACKAGE and module.startswith(name + "."))
            if inside and (best is None or len(name) > best[1]):
                best = (i, len(name))
    return None if best is None else best[0]


def upward_edges(graph: dict[str, dict[str, int]]) -> list[tuple[str, int, str]]:
    """(importer, line, imported) for every import into a higher layer, less SHIMS and UPWARD_ALLOWED."""
    return [(a, line, b) for a, deps in sorted(graph.items()) if a not in SHIMS
            for b, line in sorted(deps.items())
            if (a, b) not in UPWARD_ALLOWED and layer_of(b) is not None and layer_of(a) is not None
            and layer_of(b) > layer_of(a)]


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
            } | _lazy_reexports(tree, name)
    return raw, reexports


def _lazy_reexports(tree: ast.Module, package: str) -> dict[str, str]:
    """The names a package ``__init__`` re-exports lazily: its ``_MODULES`` table (".submodule" ->
    names), which its ``__getattr__`` imports on first use (segkit/data/__init__.py)."""
    for node in tree.body:
        if not isinstance(node, (ast.Assign, ast.AnnAssign)) or node.value is None:
            continue
        target = node.targets[0] if isinstance(node, ast.Assign) else node.target
        if isinstance(target, ast.Name) and target.id == "_MODULES":
            table = ast.literal_eval(node.value)
            return {n: package + sub for sub, names in table.items() for n in names}
    return {}


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
    assert "segkit.data" not in graph["segkit.inference.predict"]
    assert "segkit.data.files" in graph["segkit.inference.predict"]  # read_image, through the lazy table
    # a function-level import counts (segkit.training.build imports models inside build_model_from_config)
    assert any(t.startswith("segkit.models") for t in graph["segkit.training.build"])


def test_every_module_has_a_layer():
    graph = import_graph()
    assert not [m for m in graph if m not in SHIMS and layer_of(m) is None], "add them to LAYERS (and the docs)"
    assert all(layer_of(m) is None or m in MOVED for m in SHIMS)  # shims sit outside the layers or are listed


def test_no_import_goes_up_the_layers():
    found = upward_edges(import_graph())
    assert not found, "imports up the layers (LAYERS; docs/architecture.md):\n" + "\n".join(
        f"  {a} (line {line}, layer {layer_of(a)}) imports {b} (layer {layer_of(b)})" for a, line, b in found)


def test_the_checker_sees_upward_imports():
    graph = {"segkit.metrics.x": {"segkit.report.y": 3}, "segkit.report.y": {"segkit.metrics.x": 1},
             "segkit.runs.z": {"segkit._utils": 2}}
    assert upward_edges(graph) == [("segkit.metrics.x", 3, "segkit.report.y")]
    assert layer_of("segkit.report.methods.training_section") == layer_of("segkit.report")
    assert layer_of("segkit.losses_base") is None and layer_of("segkit") == len(LAYERS) - 1


def test_the_docs_list_the_layers_in_this_order():
    """docs/architecture.md's table: one row per layer, naming the same packages as LAYERS."""
    import re

    rows = [line for line in (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8").splitlines()
            if re.match(r"\| \d+ \|", line)]
    names = [tuple(re.findall(r"`(segkit[\w.]*)`", row.split("|")[2])) for row in rows]
    assert names == LAYERS


def test_every_moved_names_getattr_is_listed():
    """Each module that finds moved names lazily (``__getattr__ = moved_names(...)``) is in MOVED_NAMES."""
    lazy = set()
    for name, path in _modules().items():
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if (isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__getattr__"
                                                     for t in node.targets)
                    and isinstance(node.value, ast.Call) and getattr(node.value.func, "id", "") == "moved_names"):
                lazy.add(name)
    assert lazy == {old.rsplit(".", 1)[0] for old in MOVED_NAMES}


def test_moved_modules_keep_their_old_paths():
    for old, new in MOVED.items():
        assert importlib.import_module(old) is importlib.import_module(new), old
    for old, new in MOVED_NAMES.items():  # ``from segkit.engine import AdaptConfig`` as before
        module, name = old.rsplit(".", 1)
        assert getattr(importlib.import_module(module), name) is getattr(importlib.import_module(new), name), old
    old, new = importlib.import_module("segkit.executors"), importlib.import_module("segkit.experiments.executors")
    assert old.__all__ == new.__all__ and all(getattr(old, n) is getattr(new, n) for n in new.__all__)

    # a package's public names stay what they were after its old submodule paths are imported
    # (`segkit.engine.predict` the module would otherwise replace `segkit.engine.predict` the function)
    code = ("import importlib, sys, types; sys.path.insert(0, 'tests'); from test_architecture import MOVED; "
            "[importlib.import_module(m) for m in MOVED]; import segkit.engine as e, segkit.report as r; "
            "print(sorted(f'{p.__name__}.{n}' for p in (e, r) for n in p.__all__ "
            "if isinstance(getattr(p, n), types.ModuleType) and n != 'text'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}).stdout
    assert out.strip() == "[]", out


def test_importing_the_trainer_does_not_import_adaptation():
    code = ("import sys, segkit.engine, segkit.engine.trainer; "
            "print(sorted(m for m in sys.modules if m.startswith('segkit.adapt') or 'losses_mpa' in m))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}).stdout
    assert out.strip() == "[]"


def test_the_tests_mirror_the_packages():
    """Each folder of tests/ is named after a segkit package (or the notebooks), so a test is found where its code is."""
    folders = {p.name for p in (ROOT / "tests").iterdir() if p.is_dir() and not p.name.startswith((".", "__"))}
    packages = {p.name for p in (ROOT / PACKAGE).iterdir() if (p / "__init__.py").is_file()}
    assert folders and folders <= packages | {"notebooks"}, sorted(folders - packages)
    assert not [p.name for p in (ROOT / "tests").glob("test_*.py")
                if p.stem not in ("test_architecture", "test_install", "test_helpers")], "move it into its package's folder"


def test_no_test_file_imports_another():
    """A helper several test files share is a module of tests/ (`cli_run`, `tiny_training`), never a test
    file: an import of one made `pytest tests/runtime/test_precision.py` fail alone (the helper's folder is
    on sys.path only once pytest has collected it)."""
    found = []
    for path in sorted((ROOT / "tests").rglob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            found += [f"{path.relative_to(ROOT)}: {n}" for n in names if n.split(".")[0].startswith("test_")]
    assert not found, found
