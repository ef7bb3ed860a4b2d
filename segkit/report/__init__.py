"""segkit.report: figure style and saving, results tables, text paragraphs, run collection,
the papermill notebook runner and HTML/PDF export. It reads run directories and never trains:
:mod:`segkit.experiments` writes them.

Import what you need from the submodules. Importing any of them imports torch, through the data
layer's datasets (2-3 s of CPU); `segkit --help` does not, as the commands import it when they run.
"""
from segkit._moved import moved_names
from segkit.report import text
from segkit.report.class_curves import plot_class_iou_curves
from segkit.report.figures import (colorize_mask, overlay_mask, plot_boundary_bands, plot_confusion_matrix,
                                   plot_image_grid, plot_miou_vs_fps, plot_objects, plot_ours_vs_paper, plot_overlays,
                                   plot_per_class_bars, plot_scatter, plot_tp_fp_fn, plot_training_curves)
from segkit.report.names import display_name
from segkit.report.pipeline.notebook import NotebookPaths, output_paths, setup_notebook
from segkit.report.paper import paper_backbone_table, paper_sff_raw, paper_sff_table
from segkit.report.runs import (collect_runs, ensure_dataset, is_complete, per_class_frame, read_run, results_table,
                                run_dirs)
from segkit.report.style import CJKFontNotFoundError, find_cjk_font, label, save_figure, use_style
from segkit.report.tables import PAPER_HEADERS, best_mask, display_table, save_table, to_csv, to_latex, to_markdown
from segkit.report.text import (ablation_paragraph, claims_paragraph, comparison_paragraph, dataset_paragraph,
                                save_paragraphs, training_paragraph)

__all__ = [
    "setup_notebook", "NotebookPaths", "output_paths", "use_style", "label", "display_name", "save_figure", "find_cjk_font", "CJKFontNotFoundError",
    "PAPER_HEADERS", "best_mask", "to_markdown", "to_latex", "to_csv", "save_table", "display_table",
    "text", "comparison_paragraph", "ablation_paragraph", "claims_paragraph", "training_paragraph", "dataset_paragraph", "save_paragraphs",
    "collect_runs", "read_run", "results_table", "per_class_frame", "ensure_dataset", "is_complete",
    "run_dirs",
    "paper_backbone_table", "paper_sff_table", "paper_sff_raw",
    "plot_training_curves", "plot_class_iou_curves", "plot_miou_vs_fps", "plot_per_class_bars", "plot_confusion_matrix",
    "plot_overlays", "plot_ours_vs_paper", "plot_image_grid", "plot_tp_fp_fn", "plot_boundary_bands", "plot_objects", "plot_scatter", "colorize_mask",
    "overlay_mask",
]

# ensure_run moved to segkit.experiments; found there on first use (the report never trains)
__getattr__ = moved_names(__name__, {"ensure_run": "segkit.experiments.runs"})
