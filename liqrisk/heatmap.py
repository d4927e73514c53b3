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

from liqrisk._util import to_utc
from liqrisk.config import LiqConfig
from liqrisk.core import kernels
from liqrisk.engine import crossings
from liqrisk.errors import DataError
from liqrisk.frame import prepare
from liqrisk.model import ModelInputs


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
    inputs, window, w = window_inputs(
        ohlcv, window=window, config=config, open_interest=open_interest, funding_rate=funding_rate,
        mark=mark, pair=pair, timeframe=timeframe, tiers=tiers,
    )
    dates = pd.DatetimeIndex(pd.to_datetime(inputs.dates_ns, utc=True))
    t0 = int(np.searchsorted(dates, to_utc(start), side="left")) if start is not None else 0
    t1 = int(np.searchsorted(dates, to_utc(end), side="right")) if end is not None else len(dates)
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
    edges = price_edges(price_range, price_bins)
    expiry, cross, post = window_lifetimes(inputs, w)
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


def window_inputs(ohlcv, *, window: str | None, config, **kwargs) -> tuple[ModelInputs, str, int]:
    """Prepared inputs whose windows include ``window`` (default: the config's first).

    :returns: (inputs, window, index of the window in ``inputs.window_ns``).
    """
    cfg = LiqConfig.from_mapping(config)
    window = window or cfg.windows[0]
    if window not in cfg.windows:
        cfg = LiqConfig.from_mapping({**cfg.to_dict(), "windows": (window,)})
    inputs, _, cfg = prepare(ohlcv, config=cfg, **kwargs)
    return inputs, window, cfg.windows.index(window)


def price_edges(price_range: tuple[float, float], price_bins: int) -> np.ndarray:
    """``price_bins + 1`` equal-width edges (quote currency) over ``price_range``."""
    if price_bins < 1:
        raise DataError(f"price_bins={price_bins} must be at least 1.")
    p_lo, p_hi = map(float, price_range)
    if not (0 < p_lo < p_hi):
        raise DataError(f"price_range={price_range} must be two increasing positive prices.")
    return np.linspace(p_lo, p_hi, price_bins + 1)


def window_lifetimes(inputs: ModelInputs, w: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For window ``w``: expiry index per seed [n], first crossing per level [n, L]
    (searched up to that expiry) and the log survival ``post`` [G, n].

    A level seeded at s is open at the close of t when s <= t < min(cross, expiry[s]).
    """
    expiry = inputs.expiry_index()[w]
    post, _ = inputs.log_scales()
    return expiry, crossings(inputs, expiry), post
