"""The liquidation heatmap as an interactive plotly figure (a self-contained HTML file).

Same panels and colour scale as the matplotlib figure (``heatmap_static``); time is sampled at
the end of blocks of candles so a month of 5m data stays a few MB, and hover shows each cell's
exact USD with its long / short split.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from liqrisk.tools.plot import colors
from liqrisk.tools.plot.data import SIDES, VIEWS, HeatmapSet, block_ends, quote_currency, resample_candles
from liqrisk.tools.plot.heatmap_panels import (
    CANDLE_DOWN,
    CANDLE_UP,
    EVENT_COLORS,
    check_choice,
    figure_panels,
    tf_ns,
)

#: Time columns in the HTML figure: the state at the end of each block of candles.
#: Keeps a 30-day 5m file at a few MB while hover still shows exact cell values.
MAX_HTML_COLUMNS = 720


def heatmap_plotly(
    hs: HeatmapSet, *, side: str = "both", view: str = "stack", max_columns: int = MAX_HTML_COLUMNS
):
    """plotly Figure of ``hs``. Time is sampled at the end of blocks of candles (at most
    ``max_columns`` columns; candles are merged over the same blocks). Colours use the
    same percentile + gamma scale as the PNG (the trace holds ``(usd / top) ** gamma``,
    the colourbar is labelled in USD); hover shows price, total, long and short USD."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    check_choice(side, SIDES, "side")
    check_choice(view, VIEWS, "view")
    panels = figure_panels(hs, side, view)
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
    tf = pd.Timedelta(tf_ns(hs.timeframe))
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
