"""``segkit report``: run the notebooks under a profile and export HTML, index and PDF."""
from __future__ import annotations

import argparse

__all__ = ["add_commands", "cmd_report"]

# Kept here so building the parser imports nothing heavy; a test checks it matches
# segkit.report.pipeline.export.PAGE_SIZES.
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
    from segkit.report.pipeline.runner import copy_notebooks

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


def cmd_report(args: argparse.Namespace) -> int:
    """Run the report; return 0 on success, 1 when a notebook fails (message names it and the cell)."""
    from segkit.report.pipeline.plan import plan_report, run_report

    plan = plan_report(args.profile, data=args.data, out=args.out, runs=args.runs, figures=args.figures,
                       notebooks=args.notebooks, only=args.only, parameters=args.parameter, force=args.force,
                       executor=lambda settings: executor_settings(args, settings))
    return run_report(plan, kernel=args.kernel, cell_timeout=args.cell_timeout, pdf=not args.no_pdf,
                      page_size=args.page_size)
