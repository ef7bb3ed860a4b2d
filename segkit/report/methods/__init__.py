"""The methods section of a paper, from the code: architecture figures, formulas, dataset and training text.

One concept per file:

- ``architecture``: :func:`describe_architecture`, a model as a paper's blocks with forward-pass shapes
  (inserted and stitched modules marked at their paths); ``diagram``: :func:`plot_architecture`.
- ``figure_ggca``, ``figure_sff``, ``figure_aspp``: one figure per paper module.
- ``formulas``: the formulas of GGCA, SFF, WA-ASPP, MSA-ASPP and the metrics, written once, as
  ``methods.tex`` and Markdown (:func:`write_formulas`).
- ``dataset_section`` and ``augmentation``: the dataset paragraph and the augmentation figure.
- ``training_section``: the hyperparameter paragraph of a run.
- ``save``: every figure in English and Chinese, as PNG, PDF and SVG.

Figures are matplotlib patches (vector output, no external binary; see docs/methods_section.md).
"""
from segkit.report.methods.architecture import Architecture, Node, describe_architecture
from segkit.report.methods.augmentation import augmentation_text, plot_augmentations, training_transform
from segkit.report.methods.dataset_section import DatasetFacts, dataset_facts, dataset_paragraphs, dataset_table
from segkit.report.methods.diagram import architecture_params, plot_architecture
from segkit.report.methods.figure_aspp import plot_aspp_head
from segkit.report.methods.figure_ggca import find_attention_block, plot_ir_ggca
from segkit.report.methods.figure_sff import plot_sff
from segkit.report.methods.formulas import check_latex, to_latex, to_markdown, write_formulas
from segkit.report.methods.save import label_languages, save_in_languages
from segkit.report.methods.training_section import run_record, training_paragraphs

__all__ = [
    "Architecture", "Node", "describe_architecture", "plot_architecture", "architecture_params",
    "plot_ir_ggca", "find_attention_block", "plot_sff", "plot_aspp_head",
    "write_formulas", "to_latex", "to_markdown", "check_latex",
    "DatasetFacts", "dataset_facts", "dataset_table", "dataset_paragraphs",
    "training_transform", "augmentation_text", "plot_augmentations",
    "run_record", "training_paragraphs", "label_languages", "save_in_languages",
]

