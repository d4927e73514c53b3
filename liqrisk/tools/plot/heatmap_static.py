"""The liquidation heatmap as a matplotlib figure (PNG, SVG, PDF).

Picture conventions: x is the candle open time (UTC); column t shows the levels still
open at the close of candle t; y is the price (quote currency) on a linear grid; colour
is the outstanding USD in the cell (see ``liqrisk.tools.plot.colors`` for the scale and its
percentile + gamma normalisation). Long liquidations sit below the price, short ones
above. Candles are drawn on top, resampled to about ``MAX_CANDLES`` bars so that they
stay readable over a month of 5m data.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from liqrisk.tools.plot import colors
from liqrisk.tools.plot.data import SIDES, VIEWS, HeatmapSet, block_ends, quote_currency, resample_candles
from liqrisk.tools.plot.heatmap_panels import CANDLE_UP, EVENT_COLORS, check_choice, figure_panels, tf_ns

#: Candles drawn over a PNG panel (blocks of consecutive candles are merged beyond this).
MAX_CANDLES = 180
DARK = {
    "figure.facecolor": "#0b0a18",
    "axes.facecolor": "#0b0a18",
    "savefig.facecolor": "#0b0a18",
    "text.color": "#e8e8ee",
    "axes.labelcolor": "#e8e8ee",
    "xtick.color": "#c8c8d0",
    "ytick.color": "#c8c8d0",
    "axes.edgecolor": "#55556a",
    "font.size": 9.5,
}


def _norm(panel: dict, row_panels: list[dict]):
    from matplotlib.colors import PowerNorm

    if panel["kind"] == "confluence":
        return PowerNorm(gamma=colors.GAMMA, vmin=0.0, vmax=1.0)
    # Panels of one row (long | short) share a scale so the two sides compare.
    return colors.heat_scale(*[p["z"] for p in row_panels])


def heatmap_figure(hs: HeatmapSet, *, side: str = "both", view: str = "stack", width: float = 13.0):
    """matplotlib Figure of ``hs``: one panel per window (or one confluence panel), two
    columns with ``side="split"``. Each panel's image holds the [P, T] matrix drawn
    (``ax.images[0].get_array()``), so tests can compare it with the engine."""
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    check_choice(side, SIDES, "side")
    check_choice(view, VIEWS, "view")
    panels = figure_panels(hs, side, view)
    n_cols = 2 if side == "split" else 1
    n_rows = len(panels) // n_cols
    quote = quote_currency(hs.pair)
    hm0 = hs.heatmaps[0]
    tf = pd.Timedelta(tf_ns(hs.timeframe))
    x0 = mdates.date2num(hm0.dates[0])
    x1 = mdates.date2num(hm0.dates[-1] + tf)
    edges = hm0.price_edges
    bin_width = float(edges[1] - edges[0])
    cmap = colors.liq_cmap()
    ends = block_ends(len(hm0.dates), MAX_CANDLES // n_cols, tf_ns(hs.timeframe))
    candles = resample_candles(hm0.candles, ends)

    with plt.rc_context(DARK):
        fig, axes = plt.subplots(
            n_rows,
            n_cols,
            figsize=(width * (1.25 if n_cols == 2 else 1.0), 1.3 + 3.7 * n_rows),
            squeeze=False,
            sharex=True,
            sharey=True,
            layout="constrained",
        )
        for i, panel in enumerate(panels):
            ax = axes[i // n_cols, i % n_cols]
            row_panels = [p for p in panels if p["row"] == panel["row"]]
            norm = _norm(panel, row_panels)
            im = ax.imshow(
                panel["z"].T,
                origin="lower",
                aspect="auto",
                extent=(x0, x1, edges[0], edges[-1]),
                cmap=cmap,
                norm=norm,
                interpolation="antialiased",
                interpolation_stage="data",
            )
            _draw_candles(ax, candles, ends, hm0.dates, tf)
            if hs.events is not None and len(hs.events):
                _draw_events(ax, hs.events, panel["side"])
            ax.set_xlim(x0, x1)
            ax.set_ylim(edges[0], edges[-1])
            ax.set_title(panel["title"], loc="left", fontsize=10)
            if panel["kind"] == "usd":
                ax.set_title(
                    f"colour scale top {_tex(colors.usd_label(norm.vmax))} "
                    f"({colors.PERCENTILE:g}th percentile), "
                    f"power {colors.GAMMA:g}",
                    loc="right",
                    fontsize=8.5,
                    color="#a8a8b8",
                )
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
            if i % n_cols == 0:
                ax.set_ylabel(f"price [{quote}]")
            if i // n_cols == n_rows - 1:
                ax.set_xlabel("date (UTC, candle open)")
                loc = mdates.AutoDateLocator(minticks=4, maxticks=10)
                ax.xaxis.set_major_locator(loc)
                ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(loc))
            if i % n_cols == n_cols - 1:
                cb = fig.colorbar(
                    im,
                    ax=axes[i // n_cols, :].tolist(),
                    pad=0.01,
                    fraction=0.035,
                    aspect=18,
                    extend="max" if panel["kind"] == "usd" else "neither",
                )
                if panel["kind"] == "usd":
                    cb.set_label(f"outstanding USD per {bin_width:,.0f} {quote} bin")
                    cb.ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: colors.usd_label(v)))
                else:
                    cb.set_label("confluence (0 = absent in a window, 1 = strongest in all)")
                cb.ax.tick_params(labelsize=8)
        _legend(axes[0, 0], hs, duration_label(tf * int(ends[0] + 1)))
        start, end = hm0.dates[0], hm0.dates[-1] + tf
        windows = ", ".join(hm.window for hm in hs.heatmaps)
        fig.suptitle(
            f"{hs.pair} · estimated liquidation heatmap · window{'s' if len(hs.heatmaps) > 1 else ''} "
            f"{windows} · {hs.timeframe} candles · {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC",
            fontsize=12,
            x=0.01,
            ha="left",
        )
    return fig


def _draw_candles(
    ax, candles: pd.DataFrame, ends: np.ndarray, dates: pd.DatetimeIndex, tf: pd.Timedelta
) -> None:
    import matplotlib.dates as mdates
    from matplotlib.collections import LineCollection, PolyCollection

    left = mdates.date2num(candles["date"])
    right = mdates.date2num(dates[ends] + tf)
    mid = 0.5 * (left + right)
    half = 0.32 * (right - left)
    o, h, lo, c = (candles[k].to_numpy() for k in ("open", "high", "low", "close"))
    ax.add_collection(
        LineCollection(
            np.stack([np.stack([mid, lo], 1), np.stack([mid, h], 1)], 1),
            colors=CANDLE_UP,
            linewidths=0.7,
            alpha=0.9,
            zorder=3,
        )
    )
    body_lo, body_hi = np.minimum(o, c), np.maximum(o, c)
    body_hi = np.maximum(body_hi, body_lo + 1e-9 * body_lo)
    verts = np.stack(
        [
            np.stack([mid - half, body_lo], 1),
            np.stack([mid + half, body_lo], 1),
            np.stack([mid + half, body_hi], 1),
            np.stack([mid - half, body_hi], 1),
        ],
        1,
    )
    up = c >= o
    face = np.where(up[:, None], np.array([0, 0, 0, 0.0]), np.array([0.6, 0.6, 0.65, 1.0]))
    ax.add_collection(PolyCollection(verts, facecolors=face, edgecolors=CANDLE_UP, linewidths=0.6, zorder=4))


def _draw_events(ax, events: pd.DataFrame, side: str) -> None:
    import matplotlib.dates as mdates

    top = float(events["usd"].max()) or 1.0
    for s, marker in (("long", "v"), ("short", "^")):
        if side not in ("both", s):
            continue
        e = events[events["side"] == s]
        if not len(e):
            continue
        size = 2 + 30 * np.sqrt(e["usd"].to_numpy() / top)
        ax.scatter(
            mdates.date2num(e["date"]),
            e["price"],
            s=size,
            marker=marker,
            c=EVENT_COLORS[s],
            edgecolors="none",
            alpha=0.75,
            zorder=5,
        )


def _tex(text: str) -> str:
    """Escape '$' so that matplotlib does not read two of them as mathtext."""
    return text.replace("$", r"\$")


def duration_label(td: pd.Timedelta) -> str:
    """pd.Timedelta('4h') -> '4h', 1 day -> '1d', 25 min -> '25m'."""
    s = int(td.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if s % size == 0:
            return f"{s // size}{unit}"
    return f"{s}s"


def _legend(ax, hs: HeatmapSet, candle: str) -> None:
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=CANDLE_UP, lw=1.2, label=f"price ({candle} candles)")]
    if hs.events is not None and len(hs.events):
        handles += [
            Line2D([], [], ls="", marker="v", color=EVENT_COLORS["long"], label="actual long liquidations"),
            Line2D([], [], ls="", marker="^", color=EVENT_COLORS["short"], label="actual short liquidations"),
        ]
    leg = ax.legend(
        handles=handles,
        loc="upper left",
        fontsize=8,
        framealpha=0.6,
        facecolor="#0b0a18",
        edgecolor="#55556a",
    )
    leg.set_zorder(10)

