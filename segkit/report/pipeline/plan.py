"""A report's plan (what runs where, with which parameters) and the run of it.

``segkit report`` parses its flags into :func:`plan_report` and hands the plan to
:func:`run_report`; a script can do the same without the command line.
"""
from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from segkit.report.pipeline import export, runner
from segkit.report.pipeline.notebook import output_paths

__all__ = ["ReportPlan", "plan_report", "run_report", "generator_settings"]


@dataclass
class ReportPlan:
    """Everything a report run decides before the first notebook starts.

    Attributes:
        profile_name: the profile's name (a YAML path's stem).
        profile: the profile's content (``train:``, ``report:``, ``notebooks:``).
        data_root: the dataset (``--data``, or the synthetic set, generated where missing).
        out_dir, runs_dir, figures_dir: the report's folder, the run directories, the figures.
        notebooks: the notebooks to run, in order.
        base: the parameters every notebook gets (paths, data, executor), before the profile's sections.
        overrides: ``-p KEY VALUE`` values, over everything else.
    """

    profile_name: str
    profile: dict[str, Any]
    data_root: Path
    out_dir: Path
    runs_dir: Path
    figures_dir: Path
    notebooks: list[Path]
    base: dict[str, Any]
    overrides: dict[str, Any] = field(default_factory=dict)

    @property
    def tables_dir(self) -> Path:
        return self.out_dir / "tables"

    @property
    def executed_dir(self) -> Path:
        return self.out_dir / "notebooks"

    @property
    def title(self) -> str:
        return f"segkit report ({self.profile_name})"


def generator_settings(made: Mapping[str, Any], asked: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The synthetic data's arguments a notebook passes on (``setup_notebook(synthetic=...)``):
    ``val_fraction`` and the generator's own, those the profile sets (`asked`), as `made` has them."""
    keys = [k for k in (asked if asked is not None else made)
            if k not in ("root", "n_images", "size", "seed", "test_fraction", "parameters")]
    return {k: made[k] for k in keys if k in made}


def plan_report(profile: str = "quick", data: str | Path | None = None, out: str | Path | None = None,
                runs: str | Path | None = None, figures: str | Path | None = None,
                notebooks: str | Path | None = None, only: Sequence[str] = (),
                parameters: Sequence[tuple[str, str]] = (), force: bool = False,
                executor: Callable[[Mapping[str, Any]], tuple[str, dict]] | None = None) -> ReportPlan:
    """The plan of a report: the profile read, the dataset found (or the synthetic one generated),
    the folders (``reports/<profile>/<dataset>``, ``runs/<profile>/<dataset>`` by default) and the
    parameters every notebook gets. `executor` maps the profile's ``report:`` settings to
    (executor name, options), checked before any data is generated (default: local).

    Raises:
        FileNotFoundError: `data` is not a VOC-layout dataset, or no notebooks were found.
        ValueError: an unknown profile or a malformed ``-p`` value.
    """
    from segkit.data.synthetic import ensure_dataset

    loaded = runner.load_profile(profile)
    name = Path(profile).stem
    settings = loaded.get("report", {}) or {}
    where = executor(settings) if executor is not None else ("local", {})
    syn = settings.get("synthetic", {}) or {}
    if data:
        data_root = Path(data).resolve()
        if not (data_root / "ImageSets" / "Segmentation").is_dir():
            raise FileNotFoundError(f"--data {data}: no ImageSets/Segmentation/ in it; a VOC-layout dataset is expected.")
    else:
        data_root = Path(syn.get("root", f"data/wirerope-{name}")).resolve()
        ensure_dataset(data_root, n_images=int(syn.get("n_images", 60)), size=int(syn.get("size", 96)),
                       seed=int(syn.get("seed", 0)), test_fraction=float(syn.get("test_fraction", 0.0)),
                       log=lambda m: print(m, flush=True), **generator_settings(syn))
    default = output_paths(name, data_root)  # one folder per profile and dataset
    out_dir = Path(out or default["out_dir"]).resolve()
    plan = ReportPlan(name, loaded, data_root, out_dir, Path(runs or default["runs_dir"]).resolve(),
                      Path(figures or out_dir / "figures").resolve(),
                      runner.select_notebooks(runner.find_notebooks(notebooks), list(only)), {},
                      dict(runner.parse_override(k, v) for k, v in parameters))
    plan.base = _base_parameters(plan, profile, bool(data), syn, force, where)
    return plan


def _base_parameters(plan: ReportPlan, profile: str, own_data: bool, syn: Mapping[str, Any], force: bool,
                     executor: tuple[str, dict]) -> dict[str, Any]:
    base = {
        "profile": str(Path(profile).resolve()) if profile.endswith((".yaml", ".yml")) else profile,
        "data_root": str(plan.data_root), "runs_dir": str(plan.runs_dir), "figures_dir": str(plan.figures_dir),
        "tables_dir": str(plan.tables_dir), "out_dir": str(plan.out_dir), "force": bool(force),
        "executor": executor[0], "executor_options": executor[1],
    }
    # the notebooks regenerate synthetic data made with other arguments than they ask for: ask for what is there
    made = plan.data_root / "synthetic.json"
    made = json.loads(made.read_text(encoding="utf-8")) if made.is_file() else (None if own_data else syn)
    if made:
        base.update(n_images=int(made.get("n_images", 60)), test_fraction=float(made.get("test_fraction", 0.0)),
                    synthetic=generator_settings(made, syn))
    if not own_data:  # notebook parameters that suit the embedded data only (e.g. its crop_scale)
        base.update(syn.get("parameters", {}) or {})
    return base


def run_report(plan: ReportPlan, kernel: str | None = None, cell_timeout: int | None = None, pdf: bool = True,
               page_size: str = "A4") -> int:
    """Run the plan's notebooks and export the report; 0 when done, 1 when a notebook failed (the
    message names it and the cell), 130 after Ctrl-C (finished runs are kept and reused next time)."""
    settings = plan.profile.get("report", {}) or {}
    export.claim_report_dir(plan.out_dir)  # before anything is written or removed there
    print(f"segkit report: profile {plan.profile_name}, data {plan.data_root}, {len(plan.notebooks)} notebooks -> "
          f"{plan.out_dir}", flush=True)
    export.clear_report(plan.out_dir, [nb.stem for nb in plan.notebooks])  # no old page may look current
    t0 = time.perf_counter()
    try:
        with export.PageWriter(plan.out_dir, page_size) as writer:  # each page written while the next notebook runs
            results = runner.run_notebooks(plan.notebooks, plan.executed_dir, profile=plan.profile, base=plan.base,
                                           overrides=plan.overrides, kernel_name=kernel,
                                           execution_timeout=cell_timeout or settings.get("cell_timeout"),
                                           on_done=lambda res: writer.add(res.output_path))
            note = (f"profile {plan.profile_name} · data {plan.data_root} · {len(results)} notebooks executed in "
                    f"{time.perf_counter() - t0:.0f} s")
            export.export_report([r.output_path for r in results], plan.out_dir, title=plan.title,
                                 tables_dir=plan.tables_dir, pdf=pdf, note=note, figures_dir=plan.figures_dir,
                                 page_size=page_size, pages=writer.pages())
    except KeyboardInterrupt:
        return _interrupted(plan)
    except runner.NotebookFailedError as exc:
        if exc.ename == "KeyboardInterrupt":  # Ctrl-C reaches the kernel too: its cell stops first
            return _interrupted(plan, exc.notebook)
        export.write_failed_index(plan.out_dir, plan.title, str(exc))
        print(f"segkit report: error: {exc}", file=sys.stderr)
        return 1
    except BaseException as exc:  # an export error: the folder still says so
        export.write_failed_index(plan.out_dir, plan.title, f"{type(exc).__name__}: {exc}")
        raise
    print(f"segkit report: done in {time.perf_counter() - t0:.0f} s; open {plan.out_dir / 'index.html'}")
    return 0


def _interrupted(plan: ReportPlan, notebook: str | None = None) -> int:
    """After Ctrl-C: one line saying what was kept and how to go on; exit code 130."""
    where = f" in notebook {notebook}" if notebook else ""
    try:
        export.write_failed_index(plan.out_dir, plan.title,
                                  f"interrupted (Ctrl-C){where}; rerun the same command to finish")
    except (OSError, KeyboardInterrupt):
        pass
    print(f"segkit report: interrupted{where}; kept the finished training runs in {plan.runs_dir} and the executed "
          f"notebooks in {plan.executed_dir}; rerun the same command to go on (finished runs are reused, not "
          "retrained)", file=sys.stderr)
    return 130
