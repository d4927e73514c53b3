"""The job behind ``liqrisk heatmap``: load one pair, compute the heatmaps, write the picture.

``.png`` / ``.svg`` / ``.pdf`` are drawn by ``heatmap_static`` (matplotlib), ``.html`` by
``heatmap_html`` (plotly); ``heatmap_panels`` holds what both share.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from liqrisk.errors import ConfigError
from liqrisk.tools.plot.data import (
    SIDES,
    VIEWS,
    HeatmapSet,
    Progress,
    check_output,
    heatmap_set,
    load_events,
    model_config,
    no_progress,
    truth_events_path,
)
from liqrisk.tools.plot.files import write_picture
from liqrisk.tools.plot.heatmap_html import heatmap_plotly
from liqrisk.tools.plot.heatmap_panels import check_choice
from liqrisk.tools.plot.heatmap_static import heatmap_figure

__all__ = ["draw_heatmap", "heatmap_figure", "heatmap_plotly", "write_figure"]


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
    exchanges: list[str] | None = None,
    truth: bool = False,
    price_bins: int = 400,
    progress: Progress = no_progress,
) -> Path:
    """Load ``pair`` from a freqtrade datadir, compute the heatmaps and write ``out``.

    ``.png``/``.svg``/``.pdf`` are drawn with matplotlib, ``.html`` with plotly.
    ``config`` is a freqtrade config file (its ``datadir``, and an optional ``"liqrisk"``
    section with model keys); ``windows`` default to ``["1d"]``. History of
    ``required_startup_candles`` is loaded before ``timerange`` so the first column is
    complete. ``events`` is a liquidation file or a ``liqrisk record`` folder (see
    ``load_events``; ``exchanges`` picks a folder's recordings); ``truth`` uses
    ``<datadir>/liqrisk_truth/liquidations.parquet`` when present.

    :returns: the path written.
    :raises LiqriskError: bad flags or data (the CLI turns it into exit code 2).
    """
    from liqrisk._util import timeframe_to_ns
    from liqrisk.core.features import required_startup_candles
    from liqrisk.tools.datadir import load_market, resolve_datadir

    windows = list(windows or ["1d"])
    timeframe_to_ns(timeframe, key="timeframe")
    for w in windows:
        timeframe_to_ns(w, key="window")
    check_choice(side, SIDES, "side")
    check_choice(view, VIEWS, "view")
    if view == "confluence" and len(windows) < 2:
        raise ConfigError("view 'confluence' needs at least two windows, e.g. windows=['12h', '1d', '1w'].")
    if price_bins < 2:
        raise ConfigError(f"price_bins {price_bins} must be at least 2.")
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
        event_frame = load_events(events, pair=pair, exchanges=exchanges)
    elif truth:
        path = truth_events_path(resolve_datadir(config, datadir))
        if path is None:
            raise ConfigError(
                f"truth=True: no liqrisk_truth/liquidations.parquet in {resolve_datadir(config, datadir)} "
                "(only liqrisk simulate writes it); give an events file for your own liquidations."
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



def _timerange_start(timerange: str | None):
    if not timerange:
        return None
    from freqtrade.configuration import TimeRange

    tr = TimeRange.parse_timerange(timerange)
    return pd.Timestamp(tr.startts, unit="s", tz="UTC") if tr.starttype else None
