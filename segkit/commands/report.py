"""``segkit report``: run the notebooks under a profile and export HTML, index and PDF."""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

__all__ = ["add_commands", "cmd_report"]

# Kept here so building the parser imports nothing heavy; a test checks it matches
# segkit.report.export.PAGE_SIZES.
PAGE_SIZES = ("A4", "A3", "A5", "letter", "legal")


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register ``segkit report`` on the main parser's subcommands."""
    p = sub.add_parser(
        "report",
        help="run the notebooks with papermill and write reports/<profile>/<dataset>/ (HTML, index, PDF, tables, figures)",
        description=(
            "Run notebooks/NN_*.ipynb in order under a profile (segkit/profiles/<name>.yaml, section "
            "'notebooks:'), stop at the first failing cell, then export one HTML per notebook, index.html, "
            "report.pdf (headless Chromium), tables/ and figures/, in a folder per profile and dataset. A training "
            "run is reused only when its fingerprint (config, model, data files, code) matches; otherwise it is "
            "retrained and the log names what changed. --force retrains."
        ),
        epilog="examples:\n"
               "  segkit report                                   # quick profile, synthetic data, minutes on a CPU\n"
               "  segkit report --data data/mine --only 01,02      # your dataset, some notebooks\n"
               "  segkit report --profile paper -p device cuda      # the reference recipe on a GPU\n"
               "  segkit report -p epochs 10 -p lang zh --page-size letter\n"
               "  segkit report --profile paper -p device cuda -p workers 8   # 8 GPUs: one run per GPU\n"
               "  segkit report --profile paper --executor slurm --partition gpu --time 12:00:00   # one Slurm job per run",
    )
    p.add_argument("--profile", default="quick", help="profile name (quick, paper) or a YAML path (default: quick)")
    p.add_argument("--data", metavar="ROOT", default=None,
                   help="dataset root in VOC layout (default: synthetic wire-rope data, generated under data/ if missing)")
    p.add_argument("-p", "--parameter", nargs=2, action="append", metavar=("KEY", "VALUE"), default=[],
                   help="override a notebook parameter, e.g. -p epochs 3 -p models '[mobilenetv2]' (YAML values)")
    p.add_argument("--force", action="store_true", help="retrain even when a run directory is complete")
    p.add_argument("--only", action="append", metavar="NB", default=[],
                   help="run only these notebooks (stem, number or comma list; repeatable), e.g. --only 02,06")
    p.add_argument("--notebooks", default=None,
                   help="folder of numbered notebooks (default: ./notebooks, else the ones installed with segkit)")
    p.add_argument("--out", default=None, help="report folder (default: reports/<profile>/<dataset>)")
    p.add_argument("--figures", default=None, help="figure folder (default: <out>/figures)")
    p.add_argument("--runs", default=None, help="run directories root (default: runs/<profile>/<dataset>)")
    p.add_argument("--no-pdf", action="store_true", help="skip the PDF (HTML and index are still written)")
    p.add_argument("--page-size", default="A4", choices=PAGE_SIZES, help="the PDF's paper size")
    p.add_argument("--kernel", default=None, help="Jupyter kernel name (default: the notebooks' own, python3)")
    p.add_argument("--cell-timeout", type=int, default=None, metavar="S",
                   help="fail a cell that runs longer than S seconds (default: the profile's report.cell_timeout; "
                        "none when unset)")
    _add_executor_args(p)
    p.set_defaults(func=cmd_report)
    q = sub.add_parser("notebooks", help="copy the report notebooks into a folder, to open them in JupyterLab",
                       description="Copy the numbered notebooks (the ones segkit report runs) into DIR, never over "
                                   "a file. Each runs on its own in JupyterLab with the defaults of its parameters "
                                   "cell; relative paths there are read from DIR.",
                       epilog="example:\n  segkit notebooks my-notebooks && jupyter lab my-notebooks")
    q.add_argument("dir", help="folder to copy them into (created if missing)")
    q.set_defaults(func=_cmd_notebooks)


def _cmd_notebooks(args: argparse.Namespace) -> int:
    from segkit.report.runner import copy_notebooks

    copied = copy_notebooks(args.dir)
    print(f"copied {len(copied)} notebooks to {args.dir}; open them with: jupyter lab {args.dir}")
    return 0


def _add_executor_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("where the runs train (notebooks 02-04)",
                             "local: this machine (-p workers N trains N runs at once, one per GPU on a multi-GPU "
                             "machine). slurm: one Slurm job per run (pip install 'segkit[slurm]'); a preempted or "
                             "timed-out job is requeued and resumes from its last.pt. The job settings come from the "
                             "profile's report: slurm: section; these flags override it.")
    g.add_argument("--executor", choices=("local", "slurm"), default="local", help="default: local")
    g.add_argument("--partition", help="Slurm partition (default: the cluster's)")
    g.add_argument("--gpus", type=int, choices=(0, 1), help="GPUs per job (default 1; 0: CPU jobs)")
    g.add_argument("--time", help="time limit per job: minutes or HH:MM:SS (default 12:00:00)")
    g.add_argument("--mem", help="memory per job, e.g. 32G (default 32G)")
    g.add_argument("--cpus", type=int, help="CPU cores per job (default 8)")
    g.add_argument("--account", help="Slurm account to charge")
    g.add_argument("--qos", help="Slurm quality of service")


def executor_settings(args: argparse.Namespace, settings: dict) -> tuple[str, dict]:
    """(executor name, its options): the profile's ``report: slurm:`` section, then the CLI flags."""
    flags = ("partition", "gpus", "time", "mem", "cpus", "account", "qos")
    given = [f"--{k}" for k in flags if getattr(args, k, None) is not None]
    if args.executor != "slurm":
        if given:
            raise ValueError(f"{', '.join(given)} apply to Slurm jobs; add --executor slurm")
        return args.executor, {}
    options = dict(settings.get("slurm") or {})
    options.update({k: getattr(args, k) for k in flags if getattr(args, k, None) is not None})
    from segkit.experiments.executors import SlurmExecutor

    try:  # a wrong option, no submitit or no Slurm fails here, not in a notebook
        SlurmExecutor.from_options(options, folder=".").check()
    except ImportError as exc:
        raise RuntimeError(str(exc)) from None
    return "slurm", options


def generator_settings(made: dict, asked: dict | None = None) -> dict:
    """The synthetic data's arguments a notebook passes on (``setup_notebook(synthetic=...)``):
    ``val_fraction`` and the generator's own, those the profile sets (`asked`), as `made` has them."""
    keys = [k for k in (asked if asked is not None else made)
            if k not in ("root", "n_images", "size", "seed", "test_fraction", "parameters")]
    return {k: made[k] for k in keys if k in made}


def _interrupted(out_dir: Path, title: str, runs_dir: Path, executed_dir: Path, notebook: str | None = None) -> int:
    """After Ctrl-C: one line saying what was kept and how to go on; exit code 130."""
    import sys

    from segkit.report.export import write_failed_index

    where = f" in notebook {notebook}" if notebook else ""
    try:
        write_failed_index(out_dir, title, f"interrupted (Ctrl-C){where}; rerun the same command to finish")
    except (OSError, KeyboardInterrupt):
        pass
    print(f"segkit report: interrupted{where}; kept the finished training runs in {runs_dir} and the executed "
          f"notebooks in {executed_dir}; rerun the same command to go on (finished runs are reused, not retrained)",
          file=sys.stderr)
    return 130


def cmd_report(args: argparse.Namespace) -> int:
    """Run the report; return 0 on success, 1 when a notebook fails (message names it and the cell)."""
    import sys

    from segkit.report.export import claim_report_dir, clear_report, export_report, write_failed_index
    from segkit.report.notebook import output_paths
    from segkit.report.runner import (NotebookFailedError, find_notebooks, load_profile, parse_override,
                                      run_notebooks, select_notebooks)
    from segkit.data.synthetic import ensure_dataset

    profile = load_profile(args.profile)
    profile_name = Path(args.profile).stem
    settings = profile.get("report", {}) or {}
    overrides = dict(parse_override(k, v) for k, v in args.parameter)
    executor = executor_settings(args, settings)

    syn = settings.get("synthetic", {}) or {}
    if args.data:
        data_root = Path(args.data).resolve()
        if not (data_root / "ImageSets" / "Segmentation").is_dir():
            raise FileNotFoundError(f"--data {args.data}: no ImageSets/Segmentation/ in it; a VOC-layout dataset is expected.")
    else:
        data_root = Path(syn.get("root", f"data/wirerope-{profile_name}")).resolve()
        ensure_dataset(data_root, n_images=int(syn.get("n_images", 60)), size=int(syn.get("size", 96)),
                       seed=int(syn.get("seed", 0)), test_fraction=float(syn.get("test_fraction", 0.0)),
                       log=lambda m: print(m, flush=True), **generator_settings(syn))
    default = output_paths(profile_name, data_root)  # one folder per profile and dataset
    out_dir = Path(args.out or default["out_dir"]).resolve()
    runs_dir = Path(args.runs or default["runs_dir"]).resolve()
    figures_dir = Path(args.figures or out_dir / "figures").resolve()
    tables_dir = out_dir / "tables"
    executed_dir = out_dir / "notebooks"

    notebooks = select_notebooks(find_notebooks(args.notebooks), args.only)
    base = {
        "profile": str(Path(args.profile).resolve()) if args.profile.endswith((".yaml", ".yml")) else args.profile,
        "data_root": str(data_root),
        "runs_dir": str(runs_dir),
        "figures_dir": str(figures_dir),
        "tables_dir": str(tables_dir),
        "out_dir": str(out_dir),
        "force": bool(args.force),
    }
    base["executor"], base["executor_options"] = executor
    # the notebooks regenerate synthetic data made with other arguments than they ask for: ask for what is there
    made = data_root / "synthetic.json"
    made = json.loads(made.read_text(encoding="utf-8")) if made.is_file() else (None if args.data else syn)
    if made:
        base.update(n_images=int(made.get("n_images", 60)), test_fraction=float(made.get("test_fraction", 0.0)),
                    synthetic=generator_settings(made, syn))
    if not args.data:  # notebook parameters that suit the embedded data only (e.g. its crop_scale)
        base.update(syn.get("parameters", {}) or {})
    claim_report_dir(out_dir)  # before anything is written or removed there
    print(f"segkit report: profile {profile_name}, data {data_root}, {len(notebooks)} notebooks -> {out_dir}",
          flush=True)
    title = f"segkit report ({profile_name})"
    clear_report(out_dir, [nb.stem for nb in notebooks])  # a failed or killed run must not leave old pages current
    t0 = time.perf_counter()
    try:
        results = run_notebooks(notebooks, executed_dir, profile=profile, base=base, overrides=overrides,
                                kernel_name=args.kernel,
                                execution_timeout=args.cell_timeout or settings.get("cell_timeout"))
        run_s = time.perf_counter() - t0
        note = (f"profile {profile_name} · data {data_root} · {len(results)} notebooks executed in {run_s:.0f} s")
        export_report([r.output_path for r in results], out_dir, title=title,
                      tables_dir=tables_dir, pdf=not args.no_pdf, note=note, figures_dir=figures_dir,
                      page_size=args.page_size)
    except KeyboardInterrupt:
        return _interrupted(out_dir, title, runs_dir, executed_dir)
    except NotebookFailedError as exc:
        if exc.ename == "KeyboardInterrupt":  # Ctrl-C reaches the kernel too: its cell stops first
            return _interrupted(out_dir, title, runs_dir, executed_dir, exc.notebook)
        write_failed_index(out_dir, title, str(exc))
        print(f"segkit report: error: {exc}", file=sys.stderr)
        return 1
    except BaseException as exc:  # Ctrl-C or an export error: the folder still says so
        write_failed_index(out_dir, title, f"{type(exc).__name__}: {exc}")
        raise
    print(f"segkit report: done in {time.perf_counter() - t0:.0f} s; open {out_dir / 'index.html'}")
    return 0
