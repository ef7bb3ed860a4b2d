"""Small ipywidgets for exploring data and models in JupyterLab.

Each function returns a widget (slider/dropdowns wired to a plot). The plot is rendered to a
PNG and shown in an ``ipywidgets.Image`` (not captured in an ``Output`` widget, whose
capture messages can stall batch execution under papermill/nbclient). In an exported HTML
page the widget cannot run, so notebooks show a static figure first and the widget after
it; the static output is what a batch report contains.
"""
from __future__ import annotations

import html
from typing import Any, Callable, Mapping, Sequence

__all__ = ["dataset_browser", "option_picker"]


def _png(fig: Any, dpi: int = 100) -> bytes:
    """A matplotlib figure as PNG bytes (the figure is closed)."""
    import io

    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def dataset_browser(dataset: Any, alpha: float = 0.5, lang: str | None = None):
    """A slider over a VOC dataset's images showing image | ground-truth overlay.

    Args:
        dataset: a ``segkit.data.VOCSegmentation`` (needs ``load_original``, ``ids``,
            ``class_names``).
    """
    import ipywidgets as widgets

    from segkit.report.figures import plot_overlays

    n = len(dataset)
    if n == 0:
        raise ValueError("dataset is empty; there is nothing to browse.")
    slider = widgets.IntSlider(value=0, min=0, max=n - 1, step=1, description="image", continuous_update=False)
    image = widgets.Image(format="png", layout=widgets.Layout(max_width="640px"))

    def show(change: Any = None) -> None:
        i = slider.value
        rgb, mask = dataset.load_original(i)
        image.value = _png(plot_overlays([rgb], [mask], class_names=list(dataset.class_names),
                                         titles=[str(dataset.ids[i])], lang=lang, alpha=alpha))

    slider.observe(show, names="value")
    show()
    return widgets.VBox([slider, image])


def option_picker(render: Callable[..., Any], options: Mapping[str, Sequence[Any]], description: str = ""):
    """Dropdowns (one per option) that call ``render(**choices)`` and show the returned figure.

    Example: ``option_picker(lambda layer, cls: cam_figure(layer, cls), {"layer": layers, "cls": classes})``.
    """
    import ipywidgets as widgets

    if not options:
        raise ValueError("options is empty; pass e.g. {'layer': [...], 'cls': [...]}.")
    drops = {k: widgets.Dropdown(options=list(v), value=list(v)[0], description=k) for k, v in options.items()}
    image = widgets.Image(format="png", layout=widgets.Layout(max_width="640px"))

    def show(change: Any = None) -> None:
        image.value = _png(render(**{k: d.value for k, d in drops.items()}))

    for d in drops.values():
        d.observe(show, names="value")
    show()
    head = [widgets.HTML(f"<b>{html.escape(description)}</b>")] if description else []  # text, never markup
    return widgets.VBox(head + [widgets.HBox(list(drops.values())), image])
