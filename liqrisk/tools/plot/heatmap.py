"""Draw the liquidation heatmap: PNG/SVG/PDF with matplotlib, interactive HTML with plotly.

Picture conventions: x is the candle open time (UTC); column t shows the levels still
open at the close of candle t; y is the price (quote currency) on a linear grid; colour
is the outstanding USD in the cell (see ``liqrisk.tools.plot.colors`` for the scale and its
percentile + gamma normalisation). Long liquidations sit below the price, short ones
above. Candles are drawn on top, resampled to about ``MAX_CANDLES`` bars so that they
stay readable over a month of 5m data.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from liqrisk.errors import ConfigError
from liqrisk.tools.plot import colors
from liqrisk.tools.plot.data import (
    SIDES,
    VIEWS,
    HeatmapSet,
    Progress,
    block_ends,
    check_output,
    confluence,
    heatmap_set,
    load_events,
    no_progress,
    resample_candles,
    side_matrix,
    truth_events_path,
)
from liqrisk.tools.plot.files import write_picture

#: Candles drawn over a PNG panel (blocks of consecutive candles are merged beyond this).
MAX_CANDLES = 180
#: Time columns in the HTML figure: the state at the end of each block of candles.
#: Keeps a 30-day 5m file at a few MB while hover still shows exact cell values.
MAX_HTML_COLUMNS = 720
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
CANDLE_UP, CANDLE_DOWN = "#f2f2f2", "#9a9aa6"
EVENT_COLORS = {"long": "#3be3ff", "short": "#ffe14a"}


def quote_currency(pair: str) -> str:
    """'BTC/USDT:USDT' -> 'USDT'."""
    return pair.split("/")[-1].split(":")[0] if "/" in pair else "USD"


def _panels(hs: HeatmapSet, side: str, view: str) -> list[dict]:
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

    _check_choice(side, SIDES, "--side")
    _check_choice(view, VIEWS, "--view")
    panels = _panels(hs, side, view)
    n_cols = 2 if side == "split" else 1
    n_rows = len(panels) // n_cols
    quote = quote_currency(hs.pair)
    hm0 = hs.heatmaps[0]
    tf = pd.Timedelta(_tf(hs.timeframe))
    x0 = mdates.date2num(hm0.dates[0])
    x1 = mdates.date2num(hm0.dates[-1] + tf)
    edges = hm0.price_edges
    bin_width = float(edges[1] - edges[0])
    cmap = colors.liq_cmap()
    ends = block_ends(len(hm0.dates), MAX_CANDLES // n_cols, _tf(hs.timeframe))
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


# ---------------------------------------------------------------------------------------
# Interactive HTML


def heatmap_plotly(
    hs: HeatmapSet, *, side: str = "both", view: str = "stack", max_columns: int = MAX_HTML_COLUMNS
):
    """plotly Figure of ``hs``. Time is sampled at the end of blocks of candles (at most
    ``max_columns`` columns; candles are merged over the same blocks). Colours use the
    same percentile + gamma scale as the PNG (the trace holds ``(usd / top) ** gamma``,
    the colourbar is labelled in USD); hover shows price, total, long and short USD."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    _check_choice(side, SIDES, "--side")
    _check_choice(view, VIEWS, "--view")
    panels = _panels(hs, side, view)
    n_cols = 2 if side == "split" else 1
    n_rows = len(panels) // n_cols
    quote = quote_currency(hs.pair)
    hm0 = hs.heatmaps[0]
    ends = block_ends(len(hm0.dates), max_columns)
    candles = resample_candles(hm0.candles, ends)
    x = hm0.dates[ends]
    y = hm0.price_centers
    fig = make_subplots(
        rows=n_rows,
        cols=n_cols,
        shared_xaxes=True,
        shared_yaxes=True,
        subplot_titles=[p["title"] for p in panels],
        vertical_spacing=0.06,
        horizontal_spacing=0.07,
    )
    # z holds USD (or the confluence score); the power norm lives in the colour scale's stops.
    scale = colors.plotly_colorscale(gamma=colors.GAMMA)
    for i, panel in enumerate(panels):
        r, c = i // n_cols + 1, i % n_cols + 1
        hm = panel["hm"]
        row_panels = [p for p in panels if p["row"] == panel["row"]]
        z = panel["z"][ends].T.astype(np.float32)
        if panel["kind"] == "usd":
            top = colors.heat_top(*[p["z"] for p in row_panels])
            bar = {
                "title": {"text": f"USD per {hm.price_edges[1] - hm.price_edges[0]:,.0f} {quote} bin"},
                "tickformat": "$.3s",
            }
            # Long/short split as whole percent (uint8) keeps the file small; totals stay exact.
            long_usd, short_usd = hm.long_usd[ends].T, hm.short_usd[ends].T
            both = long_usd + short_usd
            with np.errstate(invalid="ignore", divide="ignore"):
                long_pct = np.where(both > 0, np.rint(100 * long_usd / np.where(both > 0, both, 1.0)), 0)
            custom = np.stack([long_pct, np.where(both > 0, 100 - long_pct, 0)], axis=-1).astype(np.uint8)
            hover = (
                "%{x|%Y-%m-%d %H:%M} UTC<br>price %{y:,.2f} " + quote + "<br>%{z:$,.0f}"
                "<br>long %{customdata[0]}% · short %{customdata[1]}%<extra></extra>"
            )
        else:
            top = 1.0
            bar = {"title": {"text": "confluence (0-1)"}}
            hover = (
                "%{x|%Y-%m-%d %H:%M} UTC<br>price %{y:,.2f} "
                + quote
                + "<br>confluence %{z:.2f}<extra></extra>"
            )
            custom = None
        bar.update(len=0.9 / n_rows, y=1 - (r - 0.5) / n_rows, yanchor="middle")
        fig.add_trace(
            go.Heatmap(
                x=x,
                y=y,
                z=z,
                customdata=custom,
                zmin=0.0,
                zmax=top,
                colorscale=scale,
                colorbar=bar,
                showscale=c == n_cols,
                hovertemplate=hover,
                name=panel["title"],
            ),
            row=r,
            col=c,
        )
        fig.add_trace(
            go.Candlestick(
                x=x,
                open=candles["open"],
                high=candles["high"],
                low=candles["low"],
                close=candles["close"],
                name="price",
                showlegend=i == 0,
                increasing={"line": {"color": CANDLE_UP, "width": 1}, "fillcolor": "rgba(0,0,0,0)"},
                decreasing={"line": {"color": CANDLE_UP, "width": 1}, "fillcolor": CANDLE_DOWN},
            ),
            row=r,
            col=c,
        )
        if hs.events is not None and len(hs.events):
            for s, symbol in (("long", "triangle-down"), ("short", "triangle-up")):
                e = hs.events[hs.events["side"] == s]
                if panel["side"] not in ("both", s) or not len(e):
                    continue
                fig.add_trace(
                    go.Scattergl(
                        x=e["date"],
                        y=e["price"],
                        mode="markers",
                        name=f"actual {s} liquidations",
                        showlegend=i == 0,
                        marker={
                            "symbol": symbol,
                            "color": EVENT_COLORS[s],
                            "size": 5 + 12 * np.sqrt(e["usd"] / max(float(hs.events["usd"].max()), 1.0)),
                            "line": {"width": 0.4, "color": "#000"},
                        },
                        customdata=e["usd"],
                        hovertemplate="%{x|%Y-%m-%d %H:%M:%S} UTC<br>"
                        + s
                        + " liquidated at %{y:,.2f}<br>%{customdata:$,.0f}<extra></extra>",
                    ),
                    row=r,
                    col=c,
                )
        fig.update_yaxes(title_text=f"price [{quote}]" if c == 1 else None, row=r, col=c)
        fig.update_xaxes(rangeslider_visible=False, row=r, col=c)
    tf = pd.Timedelta(_tf(hs.timeframe))
    windows = ", ".join(hm.window for hm in hs.heatmaps)
    fig.update_xaxes(title_text="date (UTC)", row=n_rows)
    fig.update_layout(
        title=f"{hs.pair} · estimated liquidation heatmap · windows {windows} · {hs.timeframe} · "
        f"{hm0.dates[0]:%Y-%m-%d %H:%M} to {hm0.dates[-1] + tf:%Y-%m-%d %H:%M} UTC",
        template="plotly_dark",
        height=260 + 380 * n_rows,
        legend={"orientation": "h", "y": -0.08},
        margin={"l": 70, "r": 90, "t": 80, "b": 60},
    )
    return fig


# ---------------------------------------------------------------------------------------
# The job behind ``liqrisk heatmap``


def draw_heatmap(
    out: str | Path,
    *,
    pair: str,
    timeframe: str = "5m",
    windows: list[str] | None = None,
    config: str | Path | None = None,
    datadir: str | Path | None = None,
    timerange: str | None = None,
    side: str = "both",
    view: str = "stack",
    events: str | Path | None = None,
    truth: bool = False,
    price_bins: int = 400,
    progress: Progress = no_progress,
) -> Path:
    """Load ``pair`` from a freqtrade datadir, compute the heatmaps and write ``out``.

    ``.png``/``.svg``/``.pdf`` are drawn with matplotlib, ``.html`` with plotly.
    ``config`` is a freqtrade config file (its ``datadir``, and an optional ``"liqrisk"``
    section with model keys); ``windows`` default to ``["1d"]``. History of
    ``required_startup_candles`` is loaded before ``timerange`` so the first column is
    complete. ``events`` is a liquidation file (see ``load_events``); ``truth`` uses
    ``<datadir>/liqrisk_truth/liquidations.parquet`` when present.

    :returns: the path written.
    :raises LiqriskError: bad flags or data (the CLI turns it into exit code 2).
    """
    from liqrisk._util import timeframe_to_ns
    from liqrisk.core.features import required_startup_candles
    from liqrisk.tools.datadir import load_market, resolve_datadir

    windows = list(windows or ["1d"])
    timeframe_to_ns(timeframe, key="--timeframe")
    for w in windows:
        timeframe_to_ns(w, key="--window")
    _check_choice(side, SIDES, "--side")
    _check_choice(view, VIEWS, "--view")
    if view == "confluence" and len(windows) < 2:
        raise ConfigError("--view confluence needs at least two windows, e.g. --window 12h 1d 1w.")
    if price_bins < 2:
        raise ConfigError(f"--bins {price_bins} must be at least 2.")
    out = check_output(out)
    liq_config = model_config(config, windows)
    total = len(windows) + 3
    progress("loading data", 0, total)
    startup = required_startup_candles(liq_config, timeframe)
    market = load_market(
        pair, timeframe, config=config, datadir=datadir, timerange=timerange, startup_candles=startup
    )
    start = _timerange_start(timerange)
    event_frame = None
    if events is not None:
        event_frame = load_events(events, pair=pair)
    elif truth:
        path = truth_events_path(resolve_datadir(config, datadir))
        if path is None:
            raise ConfigError(
                f"--truth: no liqrisk_truth/liquidations.parquet in {resolve_datadir(config, datadir)} "
                "(only liqrisk simulate writes it); use --events FILE for your own liquidations."
            )
        event_frame = load_events(path, pair=pair)
    hs = heatmap_set(
        market,
        windows,
        config=liq_config,
        start=start,
        price_bins=price_bins,
        events=event_frame,
        progress=progress,
        step=1,
        total_steps=total,
    )
    progress("drawing", total - 2, total)
    write_figure(hs, out, side=side, view=view, progress=progress, total=total)
    progress("done", total, total)
    return out


def write_figure(
    hs: HeatmapSet,
    out: Path,
    *,
    side: str = "both",
    view: str = "stack",
    progress: Progress = no_progress,
    total: int = 2,
) -> Path:
    """Draw ``hs`` and write it to ``out`` (format from the extension)."""
    return write_picture(
        out,
        html=lambda: heatmap_plotly(hs, side=side, view=view),
        static=lambda: heatmap_figure(hs, side=side, view=view),
        on_write=lambda name: progress(f"writing {name}", total - 1, total),
    )


def model_config(config: str | Path | None, windows: list[str]) -> dict:
    """liqrisk model config: the freqtrade config's optional ``"liqrisk"`` section, with ``windows``."""
    from liqrisk.tools.datadir import read_config

    section = (read_config(config).get("liqrisk") or {}) if config else {}
    if not isinstance(section, dict):
        raise ConfigError(f"--config {config}: the 'liqrisk' section must be an object of model keys.")
    return {**section, "windows": list(dict.fromkeys(windows))}


def _timerange_start(timerange: str | None):
    if not timerange:
        return None
    from freqtrade.configuration import TimeRange

    tr = TimeRange.parse_timerange(timerange)
    return pd.Timestamp(tr.startts, unit="s", tz="UTC") if tr.starttype else None


def _tf(timeframe: str) -> int:
    from liqrisk._util import timeframe_to_ns

    return timeframe_to_ns(timeframe)


def _check_choice(value: str, choices: tuple[str, ...], flag: str) -> None:
    if value not in choices:
        raise ConfigError(f"{flag} {value!r}: use one of {', '.join(choices)}.")
