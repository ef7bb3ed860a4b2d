"""Run the numbered notebooks in order with papermill, under a profile.

A profile (``segkit/profiles/<name>.yaml``) holds a ``notebooks:`` section: ``all:`` values
go to every notebook, and a section per notebook stem (``03_backbone_comparison:``) adds or
overrides values for that one. The notebooks' ``image_size``, ``epochs`` and ``batch_size``
default to the profile's ``train:`` section (`train_parameters`), so ``segkit train
--profile quick`` and the quick report train the same recipe. Only parameters a notebook
declares in its ``parameters`` cell are injected, so one profile can serve every notebook.
The first failing notebook stops the run: ``NotebookFailedError`` names the notebook and
the cell, and the partially executed notebook is kept where it was being written.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import yaml

from segkit.report.pipeline.kernels import KernelPool

__all__ = [
    "NotebookFailedError",
    "NotebookResult",
    "list_notebooks",
    "notebook_folders",
    "find_notebooks",
    "copy_notebooks",
    "select_notebooks",
    "load_profile",
    "notebook_parameters",
    "train_parameters",
    "declared_parameters",
    "parse_override",
    "run_notebook",
    "run_notebooks",
]

_NB_PATTERN = re.compile(r"^\d\d_.+\.ipynb$")

# The kernel runs on this machine's loopback, started and owned by the report; its start-up
# warning "Kernel is running over TCP without encryption" (and other INFO/WARNING lines of
# the kernel app) would print once per notebook. Errors still print.
KERNEL_ARGUMENTS = ["--IPKernelApp.log_level=ERROR"]


class NotebookFailedError(RuntimeError):
    """A notebook raised during execution.

    Attributes:
        notebook: stem of the failing notebook (e.g. "03_backbone_comparison").
        cell_index: 0-based index of the failing cell in the executed notebook (the cell
            papermill injects after ``parameters`` counts).
        execution_count: the ``In [n]`` number of the failing cell.
        source: the failing cell's source.
        ename, evalue: the exception's class name and message.
        output_path: the partially executed notebook, kept for inspection.
    """

    def __init__(self, notebook: str, cell_index: int | None, execution_count: int | None, source: str,
                 ename: str, evalue: str, output_path: Path):
        self.notebook = notebook
        self.cell_index = cell_index
        self.execution_count = execution_count
        self.source = source
        self.ename = ename
        self.evalue = evalue
        self.output_path = Path(output_path)
        first = "\n".join("    " + line for line in source.strip().splitlines()[:6])
        super().__init__(
            f"notebook {notebook} failed in cell {cell_index} (In [{execution_count}]): {ename}: {evalue}\n"
            f"  cell source:\n{first}\n"
            f"  partial output kept at {self.output_path}"
        )


@dataclass
class NotebookResult:
    """One executed notebook: where it was written, how long it took, what it received."""

    notebook: str
    input_path: Path
    output_path: Path
    seconds: float
    parameters: dict[str, Any] = field(default_factory=dict)


def list_notebooks(notebooks_dir: str | Path) -> list[Path]:
    """The numbered notebooks (``NN_name.ipynb``) in reading order.

    Raises:
        FileNotFoundError: the folder does not exist or holds no numbered notebook.
    """
    d = Path(notebooks_dir)
    if not d.is_dir():
        raise FileNotFoundError(f"notebooks folder {d} does not exist; run from the repository root or pass --notebooks DIR.")
    found = sorted(p for p in d.iterdir() if _NB_PATTERN.match(p.name))
    if not found:
        raise FileNotFoundError(f"no numbered notebooks (NN_name.ipynb) in {d}.")
    return found


def notebook_folders() -> list[Path]:
    """Where the notebooks are looked for, in order: ``./notebooks`` (a clone's root, or a copy made by
    ``segkit notebooks``), the copy installed with the package (``segkit/notebooks``, mapped from
    the repository's notebooks/ by setup.py), and the notebooks/ of the checkout segkit runs from."""
    import segkit

    package = Path(segkit.__file__).resolve().parent
    return [Path("notebooks"), package / "notebooks", package.parent / "notebooks"]


def find_notebooks(notebooks_dir: str | Path | None = None) -> list[Path]:
    """The numbered notebooks of `notebooks_dir`, or of the first of `notebook_folders` that has them.

    Raises:
        FileNotFoundError: `notebooks_dir` has none, or (without it) no folder has any, naming where it looked.
    """
    if notebooks_dir is not None:
        return list_notebooks(notebooks_dir)
    for folder in notebook_folders():
        if folder.is_dir() and any(_NB_PATTERN.match(p.name) for p in folder.iterdir()):
            return list_notebooks(folder)
    looked = ", ".join(str(f) for f in notebook_folders())
    raise FileNotFoundError(f"no numbered notebooks found (looked in {looked}); reinstall segkit or pass "
                            "--notebooks DIR")


def copy_notebooks(dest: str | Path) -> list[Path]:
    """Copy the numbered notebooks (`find_notebooks`) into `dest` for JupyterLab; never over a file.

    Raises:
        FileExistsError: one of them is in `dest` already (nothing is copied).
    """
    import shutil

    dest = Path(dest)
    sources = find_notebooks()
    if dest.resolve() in {s.parent.resolve() for s in sources}:
        raise FileExistsError(f"{dest} is where the notebooks are; copy them to another folder")
    taken = [dest / s.name for s in sources if (dest / s.name).exists()]
    if taken:
        raise FileExistsError(f"{taken[0]} exists{f' (and {len(taken) - 1} more)' if len(taken) > 1 else ''}; "
                              "copying never replaces a file: choose another folder or move them away")
    dest.mkdir(parents=True, exist_ok=True)
    return [Path(shutil.copy2(s, dest / s.name)) for s in sources]


def select_notebooks(notebooks: Sequence[Path], only: Iterable[str] | None) -> list[Path]:
    """Keep the notebooks named in ``only`` (a stem, a two-digit number, or a comma list).

    Raises:
        ValueError: a name matches no notebook (the message lists them).
    """
    if not only:
        return list(notebooks)
    wanted: list[str] = []
    for item in only:
        wanted += [w.strip() for w in str(item).split(",") if w.strip()]
    chosen = []
    for w in wanted:
        w_stem = w[:-6] if w.endswith(".ipynb") else w
        hits = [p for p in notebooks if p.stem == w_stem or p.stem.split("_", 1)[0] == w_stem.zfill(2)
                or p.stem.split("_", 1)[-1] == w_stem]
        if not hits:
            raise ValueError(f"--only {w!r} matches no notebook; choose from {[p.stem for p in notebooks]}.")
        chosen += [h for h in hits if h not in chosen]
    return sorted(chosen)


def load_profile(profile: str | Path) -> dict[str, Any]:
    """Load a profile YAML (a name in ``segkit/profiles/`` or a path) as a dict.

    The one reader of profile files is `segkit.training.config.load_profile` (it checks the
    sections and requires ``train:``); this name is kept for the report code.
    """
    from segkit.training.config import load_profile as _load

    return _load(profile)


def declared_parameters(notebook: str | Path) -> dict[str, Any]:
    """Parameters declared in a notebook's ``parameters`` cell: name -> default source text."""
    import papermill as pm

    return {name: info.get("default") for name, info in pm.inspect_notebook(str(notebook)).items()}


def train_parameters(profile: Mapping[str, Any] | None) -> dict[str, Any]:
    """The notebook parameters a profile's ``train:`` section decides.

    ``image_size`` from a square ``input_shape``, ``epochs`` from ``UnFreeze_Epoch`` (the
    one-stage recipe's total epochs) and ``batch_size`` from ``Unfreeze_batch_size``; keys
    the section does not set are left out (the notebook's own default applies).
    """
    train = (profile or {}).get("train") or {}
    out: dict[str, Any] = {}
    shape = train.get("input_shape")
    if isinstance(shape, (list, tuple)) and len(shape) == 2 and shape[0] == shape[1]:
        out["image_size"] = int(shape[0])  # the notebooks train square inputs
    for key, name in (("UnFreeze_Epoch", "epochs"), ("Unfreeze_batch_size", "batch_size")):
        if train.get(key) is not None:
            out[name] = int(train[key])
    return out


def notebook_parameters(
    profile: Mapping[str, Any] | None,
    notebook: str,
    base: Mapping[str, Any] | None = None,
    overrides: Mapping[str, Any] | None = None,
    declared: Iterable[str] | None = None,
) -> dict[str, Any]:
    """Merge parameters for one notebook:
    base < profile ``train:`` (`train_parameters`) < ``all`` < profile[notebook] < overrides.

    Args:
        profile: a loaded profile (its ``notebooks:`` section is used) or None.
        notebook: the notebook stem, e.g. "02_training".
        base: values every notebook gets first (paths set by the runner).
        overrides: command-line ``-p key value`` pairs; they win over everything.
        declared: when given, keep only these names (the notebook's parameters cell).
    """
    section = (profile or {}).get("notebooks", {}) or {}
    merged: dict[str, Any] = dict(base or {})
    merged.update(train_parameters(profile))
    merged.update(section.get("all", {}) or {})
    merged.update(section.get(notebook, {}) or {})
    merged.update(overrides or {})
    if declared is not None:
        keep = set(declared)
        merged = {k: v for k, v in merged.items() if k in keep}
    return merged


def parse_override(key: str, value: str) -> tuple[str, Any]:
    """Turn ``-p key value`` strings into a typed pair (YAML rules: 3 -> int, true -> bool, [a,b] -> list)."""
    if not key.isidentifier():
        raise ValueError(f"-p {key!r}: parameter names must be Python identifiers such as 'epochs'.")
    try:
        return key, yaml.safe_load(value)
    except yaml.YAMLError:
        return key, value


def _running_cell(path: Path) -> tuple[int | None, int | None, str]:
    """(index, execution count, source) of the cell papermill marked as running in a partial notebook."""
    import nbformat

    try:
        nb = nbformat.read(str(path), as_version=4)
    except (OSError, ValueError):
        return None, None, ""
    # the last cell papermill started (it marks a timed-out cell "completed" with no end)
    started = [(i, c) for i, c in enumerate(nb.cells)
               if c.cell_type == "code" and c.get("metadata", {}).get("papermill", {}).get("start_time")]
    if not started:
        return None, None, ""
    i, cell = started[-1]
    return i, cell.get("execution_count"), cell.get("source", "")


def run_notebook(
    input_path: str | Path,
    output_path: str | Path,
    parameters: Mapping[str, Any] | None = None,
    cwd: str | Path | None = None,
    kernel_name: str | None = None,
    progress_bar: bool = True,
    log_output: bool = False,
    execution_timeout: int | None = None,
    km: Any = None,
) -> NotebookResult:
    """Execute one notebook with papermill and write the executed copy to ``output_path``.

    `km`: a started kernel manager to run it in (``KernelPool``); None: papermill starts a kernel.

    Raises:
        NotebookFailedError: a cell raised; the partial notebook stays at ``output_path``.
    """
    import papermill as pm
    from nbclient.exceptions import CellTimeoutError, DeadKernelError
    from papermill.exceptions import PapermillExecutionError

    input_path, output_path = Path(input_path), Path(output_path)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    params = dict(parameters or {})
    t0 = time.perf_counter()
    try:
        pm.execute_notebook(
            str(input_path), str(output_path), parameters=params, cwd=str(cwd or input_path.parent),
            kernel_name=kernel_name, progress_bar=progress_bar, log_output=log_output,
            execution_timeout=execution_timeout, report_mode=False, extra_arguments=KERNEL_ARGUMENTS,
            **({"km": km} if km is not None else {}),
        )
    except PapermillExecutionError as exc:
        raise NotebookFailedError(input_path.stem, exc.cell_index, exc.exec_count, exc.source or "",
                                  exc.ename, exc.evalue, output_path) from None
    except (CellTimeoutError, DeadKernelError) as exc:
        cell = _running_cell(output_path)
        raise NotebookFailedError(input_path.stem, cell[0], cell[1], cell[2], type(exc).__name__,
                                  str(exc).strip().splitlines()[0] if str(exc).strip() else "", output_path) from None
    return NotebookResult(input_path.stem, input_path, output_path, time.perf_counter() - t0, params)


def _say(msg: str) -> None:
    print(msg, flush=True)  # flushed: progress must show when stdout is a file or a pipe


def run_notebooks(
    notebooks: Sequence[str | Path],
    out_dir: str | Path,
    profile: Mapping[str, Any] | None = None,
    base: Mapping[str, Any] | None = None,
    overrides: Mapping[str, Any] | None = None,
    kernel_name: str | None = None,
    progress_bar: bool = True,
    log=None,
    execution_timeout: int | None = None,
    on_done: Callable[[NotebookResult], Any] | None = None,
) -> list[NotebookResult]:
    """Run ``notebooks`` in order, each written to ``<out_dir>/<stem>.ipynb``; stop at the first failure.

    Parameters per notebook come from :func:`notebook_parameters`, filtered to what the
    notebook declares. Each notebook runs in a fresh kernel, started and warmed up while the
    one before runs (``segkit.report.pipeline.kernels``). ``log`` receives one progress line per notebook;
    ``execution_timeout`` (seconds per cell, None: no limit) turns a stuck cell into a failure;
    ``on_done`` is called with each notebook's result as it finishes (the report writes its page).

    Raises:
        NotebookFailedError: from the first notebook that fails (later ones are not run).
    """
    log = log or _say
    out = Path(out_dir)
    results = []
    total = len(notebooks)
    paths = [Path(nb) for nb in notebooks]
    with KernelPool(kernel_name, KERNEL_ARGUMENTS) as kernels:
        for i, nb in enumerate(paths, 1):
            params = notebook_parameters(profile, nb.stem, base, overrides, declared=declared_parameters(nb))
            log(f"[{i}/{total}] {nb.stem} ...")
            with kernels.kernel(nb, then=paths[i] if i < total else None) as km:
                res = run_notebook(nb, out / nb.name, params, cwd=nb.parent, kernel_name=kernel_name,
                                   progress_bar=progress_bar, execution_timeout=execution_timeout, km=km)
            log(f"[{i}/{total}] {nb.stem} done in {res.seconds:.1f} s")
            results.append(res)
            if on_done is not None:
                on_done(res)
    return results
