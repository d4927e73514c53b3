"""What both heatmap drawings share: the panels a figure shows, and the candle and event colours.

``figure_panels`` turns a ``HeatmapSet`` and the ``side`` / ``view`` choices into one dict per panel
(title, [T, P] matrix, kind); ``heatmap_static`` draws them with matplotlib and
``heatmap_html`` with plotly, so a PNG and an HTML file of the same set show the same panels.
"""

from __future__ import annotations

from liqrisk._util import timeframe_to_ns
from liqrisk.errors import ConfigError
from liqrisk.tools.plot.data import HeatmapSet, confluence, side_matrix

CANDLE_UP, CANDLE_DOWN = "#f2f2f2", "#9a9aa6"
EVENT_COLORS = {"long": "#3be3ff", "short": "#ffe14a"}


def figure_panels(hs: HeatmapSet, side: str, view: str) -> list[dict]:
    """One dict per panel: title, matrix [T, P], colourbar label, norm source and kind."""
    sides = ["long", "short"] if side == "split" else [side]
    names = {"both": "longs below, shorts above", "long": "long liquidations", "short": "short liquidations"}
    panels = []
    if view == "confluence":
        ws = ", ".join(hm.window for hm in hs.heatmaps)
        for s in sides:
            panels.append(
                {
                    "title": f"confluence of windows {ws} · {names[s]}",
                    "z": confluence(hs.heatmaps, s),
                    "kind": "confluence",
                    "row": 0,
                    "side": s,
                    "hm": hs.heatmaps[0],
                }
            )
        return panels
    for r, hm in enumerate(hs.heatmaps):
        for s in sides:
            panels.append(
                {
                    "title": f"window {hm.window} · {names[s]}",
                    "z": side_matrix(hm, s),
                    "kind": "usd",
                    "row": r,
                    "side": s,
                    "hm": hm,
                }
            )
    return panels


def tf_ns(timeframe: str) -> int:
    """Candle length in nanoseconds, e.g. '5m' -> 300_000_000_000."""
    return timeframe_to_ns(timeframe)


def check_choice(value: str, choices: tuple[str, ...], name: str) -> None:
    """ConfigError naming the argument ``name`` when ``value`` is not one of ``choices``."""
    if value not in choices:
        raise ConfigError(f"{name} {value!r}: use one of {', '.join(choices)}.")
