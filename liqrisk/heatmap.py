"""The dense time × price liquidation heatmap, for pictures.

Not built during normal feature computation: it costs O(levels × window) and is only
needed when a person looks at a range of time. The values are the same outstanding
USD the features summarise; the tests check that each row sums to
``liq_{long,short}_outstanding_usd_<window>`` when the price grid covers every level.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from liqrisk.core import kernels
from liqrisk.engine import crossings
from liqrisk.errors import DataError
from liqrisk.frame import prepare


@dataclass
class Heatmap:
    """Outstanding liquidation USD per candle and price bin, for one window.

    ``long_usd[i, j]`` is the USD of long positions whose liquidation price lies in
    ``[price_edges[j], price_edges[j+1])`` and that are still open at the close of
    candle ``dates[i]`` (estimated from data up to that close). Prices in quote
    currency; USD means quote currency.
    """

    pair: str
    window: str
    dates: pd.DatetimeIndex  # candle open times (UTC)
    price_edges: np.ndarray  # [P + 1], increasing, quote currency
    long_usd: np.ndarray  # [T, P]
    short_usd: np.ndarray  # [T, P]
    candles: pd.DataFrame  # the OHLCV rows of the range, for drawing on top

    @property
    def price_centers(self) -> np.ndarray:
        return 0.5 * (self.price_edges[1:] + self.price_edges[:-1])

    @property
    def total_usd(self) -> np.ndarray:
        return self.long_usd + self.short_usd


def liquidation_heatmap(
    ohlcv: pd.DataFrame, *, open_interest=None, funding_rate=None, mark=None, pair: str = "BTC/USDT:USDT",
    timeframe: str = "5m", config=None, tiers=None, window: str | None = None, start=None, end=None,
    price_bins: int = 400, price_range: tuple[float, float] | None = None,
) -> Heatmap:
    """Dense heatmap of one window over candles with ``start <= date <= end``.

    Give the full history (at least ``required_startup_candles`` before ``start``) so the
    first rows are complete. ``price_range`` defaults to the range's lowest low and
    highest high, widened by 10%; levels outside the grid are left out.
    """
    if price_bins < 1:
        raise DataError(f"price_bins={price_bins} must be at least 1.")
    inputs, _, cfg = prepare(
        ohlcv, open_interest=open_interest, funding_rate=funding_rate, mark=mark, pair=pair,
        timeframe=timeframe, config=config, tiers=tiers,
    )
    window = window or cfg.windows[0]
    if window not in cfg.windows:
        from liqrisk.config import LiqConfig

        cfg = LiqConfig.from_mapping({**cfg.to_dict(), "windows": (window,)})
        inputs, _, cfg = prepare(
            ohlcv, open_interest=open_interest, funding_rate=funding_rate, mark=mark, pair=pair,
            timeframe=timeframe, config=cfg, tiers=tiers,
        )
    w = cfg.windows.index(window)
    dates = pd.DatetimeIndex(pd.to_datetime(inputs.dates_ns, utc=True))
    t0 = int(np.searchsorted(dates, _utc(start), side="left")) if start is not None else 0
    t1 = int(np.searchsorted(dates, _utc(end), side="right")) if end is not None else len(dates)
    if t1 <= t0:
        raise DataError(f"no candles between {start} and {end} (data covers {dates[0] if len(dates) else 'nothing'}"
                        f" to {dates[-1] if len(dates) else 'nothing'}).")
    rows = slice(t0, t1)
    if price_range is None:
        lo = float(np.nanmin(inputs.cons_low[rows][np.isfinite(inputs.cons_low[rows])], initial=np.inf))
        hi = float(np.nanmax(inputs.cons_high[rows][np.isfinite(inputs.cons_high[rows])], initial=-np.inf))
        if not np.isfinite(lo) or not np.isfinite(hi):
            raise DataError("the range has no valid candles to draw.")
        price_range = (lo * 0.9, hi * 1.1)
    p_lo, p_hi = map(float, price_range)
    if not (0 < p_lo < p_hi):
        raise DataError(f"price_range={price_range} must be two increasing positive prices.")
    edges = np.linspace(p_lo, p_hi, price_bins + 1)

    expiry = inputs.expiry_index()[w]
    cross = crossings(inputs, expiry)
    post, _ = inputs.log_scales()
    level_bin = np.searchsorted(edges, inputs.level_price, side="right") - 1
    level_bin = np.where((level_bin >= 0) & (level_bin < price_bins), level_bin, -1).astype(np.int64)
    heat = kernels.dense_heatmap_nb(
        level_bin, inputs.level_bucket, inputs.seed_usd, inputs.tier_weight, inputs.entry_weight,
        inputs.tier_group, cross, expiry, post, t0, t1, price_bins,
    )
    return Heatmap(
        pair=pair, window=window, dates=dates[rows], price_edges=edges, long_usd=heat[0], short_usd=heat[1],
        candles=ohlcv.iloc[rows].reset_index(drop=True),
    )


def _utc(value) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tz is None else ts.tz_convert("UTC")
