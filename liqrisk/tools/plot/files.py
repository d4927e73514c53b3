"""Writing pictures: interactive HTML with plotly; PNG with a 256-colour palette, other formats as matplotlib writes them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

#: Resolution of PNG pictures (dots per inch); 13 in wide -> 1,430 px.
DPI = 110


def save_figure(fig, out: str | Path, *, dpi: int = DPI, palette: bool = True) -> Path:
    """Write ``fig`` to ``out`` (format from the extension) and close nothing.

    PNGs are reduced to a 256-colour palette (octree, no dithering): the heatmap uses
    one colour scale plus a few line and text colours, so it looks the same at about a
    third of the size, and PIL encodes it faster than matplotlib's RGBA writer.
    """
    out = Path(out)
    if out.suffix.lower() != ".png" or not palette:
        fig.savefig(out, dpi=dpi)
        return out
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from PIL import Image

    fig.set_dpi(dpi)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    rgb = np.asarray(canvas.buffer_rgba())[..., :3]
    image = Image.fromarray(np.ascontiguousarray(rgb)).quantize(
        colors=256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE
    )
    image.save(out, format="PNG")
    return out


def write_picture(out: str | Path, *, html: Callable, static: Callable, on_write: Callable[[str], None]) -> Path:
    """Write ``out``: ``html()`` builds a plotly figure for ``.html``, ``static()`` a
    matplotlib one for every other extension. ``on_write(name)`` is called once the
    figure is built. An unwritable path is a ConfigError naming the file."""
    from liqrisk.errors import ConfigError

    out = Path(out)
    try:
        if out.suffix.lower() == ".html":
            fig = html()
            on_write(out.name)
            fig.write_html(out, include_plotlyjs=True, full_html=True)
        else:
            import matplotlib.pyplot as plt

            fig = static()
            on_write(out.name)
            try:
                save_figure(fig, out)
            finally:
                plt.close(fig)
    except OSError as e:
        raise ConfigError(f"output file {out}: cannot write it: {e.strerror or e}.") from e
    return out
