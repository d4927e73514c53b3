"""Pictures of the liquidation model: the heatmap over time and the map at one moment.

Tool code, like ``liqrisk.tools.datadir``: it imports matplotlib and plotly (and freqtrade,
to read a datadir) only here, never from the core.

- ``draw_heatmap(out, pair=..., ...)``: the job behind ``liqrisk heatmap``.
- ``draw_liquidation_map(out, pair=..., at=...)``: the job behind ``liqrisk map``.
- ``heatmap_figure`` / ``heatmap_plotly`` and ``liqmap_figure`` / ``liqmap_plotly``
  draw data already computed.
"""

from liqrisk.tools.plot.colors import liq_cmap
from liqrisk.tools.plot.data import HeatmapSet, confluence, heatmap_set, load_events
from liqrisk.tools.plot.heatmap import draw_heatmap
from liqrisk.tools.plot.heatmap_html import heatmap_plotly
from liqrisk.tools.plot.heatmap_static import heatmap_figure
from liqrisk.tools.plot.liqmap import draw_liquidation_map, liqmap_figure, liqmap_plotly

__all__ = [
    "HeatmapSet",
    "confluence",
    "draw_heatmap",
    "draw_liquidation_map",
    "heatmap_figure",
    "heatmap_plotly",
    "heatmap_set",
    "liq_cmap",
    "liqmap_figure",
    "liqmap_plotly",
    "load_events",
]
