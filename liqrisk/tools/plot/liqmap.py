"""Draw the liquidation map at one moment (Coinglass's "liquidation map").

Bars: outstanding USD per price bin, stacked by leverage tier (low leverage at the
bottom). Lines (right axis): cumulative long liquidations from the price down, and
cumulative short liquidations from the price up: the USD that a move to that price
would liquidate. A dashed line marks the price at the close of the chosen candle.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from liqrisk.core.grids import LiquidationMap, liquidation_map
from liqrisk.errors import ConfigError
from liqrisk.tools.plot import colors
from liqrisk.tools.plot.data import Progress, check_output, model_config, no_progress, quote_currency
from liqrisk.tools.plot.files import write_picture

CUM_LONG, CUM_SHORT, PRICE = "#d62728", "#2ca02c", "#222222"


def tier_colors(n: int) -> list:
    """One colour per leverage tier, ordered (low leverage = dark blue, high = yellow)."""
    import matplotlib

    cmap = matplotlib.colormaps["viridis"]
    return [cmap(v) for v in np.linspace(0.15, 0.92, n)]


def _tier_label(lm: LiquidationMap, k: int) -> str:
    lev, eff = lm.leverage[k], lm.effective_leverage[k]
    return f"{lev:g}x" + (f" (capped {eff:g}x)" if eff < lev else "")


def _tex(text: str) -> str:
    """Escape '$' so that matplotlib does not read two of them as mathtext."""
    return text.replace("$", r"\$")


def _masks(lm: LiquidationMap) -> tuple[np.ndarray, np.ndarray]:
    centers = lm.price_centers
    return centers <= lm.price, centers >= lm.price


def liqmap_figure(lm: LiquidationMap, *, timeframe: str = "5m", width: float = 13.0):
    """matplotlib Figure of ``lm``. ``fig.axes[0]`` holds the stacked bars (one filled
    ``StepPatch`` per tier, in ``ax.patches``: top = baseline + that tier's USD),
    ``fig.axes[1]`` the cumulative curves."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    quote = quote_currency(lm.pair)
    centers = lm.price_centers
    width_bin = float(lm.price_edges[1] - lm.price_edges[0])
    below, above = _masks(lm)
    usd_fmt = FuncFormatter(lambda v, _: colors.usd_label(v))
    with plt.rc_context({"font.size": 9.5}):
        fig, ax = plt.subplots(figsize=(width, 6.2), layout="constrained")
        bottom = np.zeros_like(centers)
        for k, color in enumerate(tier_colors(len(lm.leverage))):
            usd = lm.usd[0, k] + lm.usd[1, k]
            # One filled step patch per tier (stacked via baseline): 200 bars × 5 tiers as
            # Rectangles take a second to draw; a StepPatch is one path.
            ax.stairs(
                bottom + usd,
                lm.price_edges,
                baseline=bottom.copy(),
                fill=True,
                color=color,
                label=_tier_label(lm, k),
                linewidth=0,
            )
            bottom = bottom + usd
        ax.set_ylabel(f"outstanding USD per {width_bin:,.0f} {quote} bin")
        ax.yaxis.set_major_formatter(usd_fmt)
        ax.set_xlabel(f"liquidation price [{quote}]")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
        ax.set_xlim(lm.price_edges[0], lm.price_edges[-1])
        ax.grid(axis="y", color="#dddddd", lw=0.6)
        ax.set_axisbelow(True)

        ax2 = ax.twinx()
        cum_long = np.where(below, lm.cumulative_long_usd, np.nan)
        cum_short = np.where(above, lm.cumulative_short_usd, np.nan)
        ax2.plot(
            centers, cum_long, color=CUM_LONG, lw=2.0, label="cumulative long liquidations (price falls)"
        )
        ax2.fill_between(centers, cum_long, color=CUM_LONG, alpha=0.08, lw=0)
        ax2.plot(
            centers, cum_short, color=CUM_SHORT, lw=2.0, label="cumulative short liquidations (price rises)"
        )
        ax2.fill_between(centers, cum_short, color=CUM_SHORT, alpha=0.08, lw=0)
        ax2.set_ylim(bottom=0)
        ax2.set_ylabel("cumulative USD from the price")
        ax2.yaxis.set_major_formatter(usd_fmt)

        ax.axvline(lm.price, color=PRICE, ls="--", lw=1.2)
        ax.annotate(
            f"price {lm.price:,.2f}",
            xy=(lm.price, 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(4, -12),
            textcoords="offset points",
            fontsize=9,
            color=PRICE,
        )
        ax.set_ylim(0, max(float(bottom.max()), 1.0) * 1.08)
        long_total = float(lm.usd[0][:, below].sum())
        short_total = float(lm.usd[1][:, above].sum())
        h1, l1 = ax.get_legend_handles_labels()
        h2, l2 = ax2.get_legend_handles_labels()
        fig.legend(
            h1 + h2,
            ["leverage " + x for x in l1] + l2,
            loc="outside lower center",
            ncol=len(h1) + 2,
            fontsize=8.5,
            frameon=False,
        )
        ax.set_zorder(ax2.get_zorder() + 1)  # bars above the filled curves
        ax.patch.set_visible(False)
        fig.suptitle(
            f"{lm.pair} · liquidation map at {lm.close_time:%Y-%m-%d %H:%M} UTC "
            f"(close of the {timeframe} candle opened {lm.at:%H:%M}) · window {lm.window}\n"
            f"price {lm.price:,.2f} {quote} · long liquidations "
            f"below {_tex(colors.usd_label(long_total))} · short liquidations above "
            f"{_tex(colors.usd_label(short_total))} "
            f"(in the {lm.price_edges[0]:,.0f} to {lm.price_edges[-1]:,.0f} range)",
            fontsize=11.5,
            x=0.01,
            ha="left",
            linespacing=1.5,
        )
    return fig


def liqmap_plotly(lm: LiquidationMap, *, timeframe: str = "5m"):
    """plotly Figure of ``lm``: stacked bars per tier, cumulative curves on a second axis."""
    import plotly.graph_objects as go
    from matplotlib.colors import to_hex
    from plotly.subplots import make_subplots

    quote = quote_currency(lm.pair)
    centers = lm.price_centers
    below, above = _masks(lm)
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    for k, color in enumerate(tier_colors(len(lm.leverage))):
        usd = lm.usd[0, k] + lm.usd[1, k]
        fig.add_trace(
            go.Bar(
                x=centers,
                y=usd,
                name=f"leverage {_tier_label(lm, k)}",
                marker_color=to_hex(color),
                hovertemplate="%{x:,.2f} "
                + quote
                + "<br>%{y:$,.0f}<extra>"
                + _tier_label(lm, k)
                + "</extra>",
            ),
            secondary_y=False,
        )
    fig.add_trace(
        go.Scatter(
            x=centers[below],
            y=lm.cumulative_long_usd[below],
            name="cumulative long",
            line={"color": CUM_LONG, "width": 2},
        ),
        secondary_y=True,
    )
    fig.add_trace(
        go.Scatter(
            x=centers[above],
            y=lm.cumulative_short_usd[above],
            name="cumulative short",
            line={"color": CUM_SHORT, "width": 2},
        ),
        secondary_y=True,
    )
    fig.add_vline(x=lm.price, line_dash="dash", line_color=PRICE, annotation_text=f"price {lm.price:,.2f}")
    fig.update_layout(
        barmode="stack",
        bargap=0.05,
        template="plotly_white",
        height=620,
        title=f"{lm.pair} · liquidation map at {lm.close_time:%Y-%m-%d %H:%M} UTC · window {lm.window}",
    )
    fig.update_xaxes(title_text=f"liquidation price [{quote}]")
    fig.update_yaxes(title_text="outstanding USD per bin", secondary_y=False)
    fig.update_yaxes(title_text="cumulative USD from the price", secondary_y=True, rangemode="tozero")
    return fig


def draw_liquidation_map(
    out: str | Path,
    *,
    pair: str,
    at=None,
    timeframe: str = "5m",
    window: str = "1d",
    config: str | Path | None = None,
    datadir: str | Path | None = None,
    price_bins: int = 200,
    price_range: tuple[float, float] | None = None,
    progress: Progress = no_progress,
) -> Path:
    """Load ``pair`` up to ``at`` from a freqtrade datadir and write its liquidation map to ``out``.

    ``at`` is a UTC time (default: the last candle); the map holds at the close of the
    candle containing it. History of ``required_startup_candles`` is loaded before it.
    :raises LiqriskError: bad flags or data (the CLI turns it into exit code 2).
    """
    from liqrisk._util import timeframe_to_ns
    from liqrisk.core.features import required_startup_candles
    from liqrisk.errors import DataError
    from liqrisk.tools.datadir import load_market

    tf_ns = timeframe_to_ns(timeframe, key="timeframe")
    window_ns = timeframe_to_ns(window, key="window")
    if price_bins < 2:
        raise ConfigError(f"price_bins {price_bins} must be at least 2.")
    out = check_output(out)
    liq_config = model_config(config, [window])
    total = 4
    progress("loading data", 0, total)
    startup = required_startup_candles(liq_config, timeframe)
    timerange = None
    if at is not None:
        try:
            at_ts = pd.Timestamp(at)
        except ValueError as e:
            raise ConfigError(f"at {at!r} is not a date; use e.g. 2025-01-15T12:00 (UTC).") from e
        at_ts = at_ts.tz_localize("UTC") if at_ts.tz is None else at_ts.tz_convert("UTC")
        at_s = int(at_ts.value // 10**9)
        timerange = f"{at_s - at_s % (tf_ns // 10**9)}-{at_s + tf_ns // 10**9}"
    market = load_market(
        pair, timeframe, config=config, datadir=datadir, timerange=timerange, startup_candles=startup
    )
    dates = pd.to_datetime(market.ohlcv["date"], utc=True)
    if at is not None and at_ts >= dates.iloc[-1] + pd.Timedelta(tf_ns, "ns"):
        raise DataError(
            f"at {at} is after the data: the last {timeframe} candle closes at "
            f"{dates.iloc[-1] + pd.Timedelta(tf_ns, 'ns'):%Y-%m-%d %H:%M} UTC."
        )
    span = dates.iloc[-1] - dates.iloc[0] + pd.Timedelta(tf_ns, "ns")
    if window_ns > span.value:
        raise DataError(
            f"window {window} is longer than the data up to the map's moment ({span}); use a shorter "
            "window or a later moment."
        )
    progress(f"liquidation map {window}", 1, total)
    lm = liquidation_map(
        market.ohlcv,
        **market.engine_inputs(),
        config=liq_config,
        window=window,
        at=at,
        price_bins=price_bins,
        price_range=price_range,
    )
    if price_range is not None and not lm.price_edges[0] <= lm.price <= lm.price_edges[-1]:
        # The price line and its label would be drawn far off the axes (the rasteriser fails).
        raise ConfigError(
            f"price range {price_range[0]:,.8g} to {price_range[1]:,.8g} (--range) does not contain the price "
            f"at the map's moment, {lm.price:,.8g}; give a range around it, e.g. {lm.price * 0.8:.8g} "
            f"{lm.price * 1.2:.8g} (±20%)."
        )
    progress("drawing", 2, total)
    write_picture(
        out,
        html=lambda: liqmap_plotly(lm, timeframe=timeframe),
        static=lambda: liqmap_figure(lm, timeframe=timeframe),
        on_write=lambda name: progress(f"writing {name}", 3, total),
    )
    progress("done", total, total)
    return out
