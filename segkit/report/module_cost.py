"""The figure of a ``segkit.bench.module_cost`` frame: each part's share of latency and FLOPs."""
from __future__ import annotations

from segkit.bench.module_cost import TOTAL
from segkit.report.style import PALETTE, label

__all__ = ["plot_module_cost"]


def plot_module_cost(df, title: str | None = None, lang: str | None = None):
    """Horizontal bars of each part's latency share and FLOPs share, side by side (a
    ``module_cost`` frame; the total row is left out). Returns the matplotlib Figure."""
    import matplotlib.pyplot as plt

    rows = df[df["part"] != TOTAL].iloc[::-1]  # first part on top
    # one x scale on both panels: a part whose bars differ in length costs more time than arithmetic, or less
    fig, axes = plt.subplots(1, 2, figsize=(8.0, 0.45 * len(rows) + 1.4), sharex=True, sharey=True)
    for ax, col, key, color in ((axes[0], "latency(%)", "latency_share", PALETTE[0]),
                                (axes[1], "FLOPs(%)", "flops_share", PALETTE[1])):
        bars = ax.barh(rows["part"].astype(str), rows[col].astype(float), color=color)
        ax.bar_label(bars, fmt="%.1f", fontsize=8, padding=2)
        ax.set_xlabel(label(key, lang))
        ax.margins(x=0.15)  # room for the value labels
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
