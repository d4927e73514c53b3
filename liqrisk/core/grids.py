"""Price grids for pictures: the dense time × price heatmap and the liquidation map at one moment.

Heatmap
-------
Not built during normal feature computation: it costs O(levels × window) and is only
needed when a person looks at a range of time. The values are the same outstanding
USD the features summarise; the tests check that each row sums to
``liq_{long,short}_outstanding_usd_<window>`` when the price grid covers every level.

Liquidation map
---------------
The liquidation map at one moment: outstanding USD per side × leverage tier × price bin.

Coinglass's "liquidation map" is one column of the heatmap broken down by leverage:
at the close of one candle, how much USD would be liquidated at each price, and by
which leverage tier. It is computed here by direct summation over the levels that are
still open at that close (seeded inside the window, not yet crossed), from the same
``ModelInputs`` and crossings as ``liquidation_heatmap``; the tests check that summing
over tiers gives the heatmap's row at that candle. Pure numpy/pandas, no plotting.

"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from liqrisk._util import timeframe_to_ns, to_utc
from liqrisk.config import LiqConfig
from liqrisk.core import kernels
from liqrisk.core.align import prepare
from liqrisk.core.engine import crossings
from liqrisk.core.model import ModelInputs
from liqrisk.errors import DataError


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
    ohlcv: pd.DataFrame, *, open_interest=None, funding_rate=None, mark=None, pair: str,
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


#: Default half-width of the price grid around the close, as a fraction of the close.
#: 20% covers the 5x tier (a 5x long liquidates about 19.5% below its entry).
DEFAULT_SPAN = 0.20


@dataclass
class LiquidationMap:
    """Outstanding liquidation USD at the close of one candle, per side, tier and price bin.

    ``usd[side, k, j]`` is the USD of side ``side`` (0 = long, 1 = short) positions of
    leverage tier ``k`` whose liquidation price lies in ``[price_edges[j],
    price_edges[j+1])`` and that are still open at the close of candle ``at`` (known
    at that close: no later data is used). Prices in quote currency; USD means quote
    currency.
    """

    pair: str
    window: str
    at: pd.Timestamp  # open time (UTC) of the candle; the map holds at its close
    close_time: pd.Timestamp  # at + timeframe
    price: float  # last valid close at that candle, quote currency
    price_edges: np.ndarray  # [P + 1], increasing, quote currency
    leverage: np.ndarray  # [K] configured leverage per tier (ratio, e.g. 10.0)
    effective_leverage: np.ndarray  # [K] after the margin bracket's cap
    usd: np.ndarray  # [2, K, P]
    candles: pd.DataFrame  # OHLCV rows of the window ending at ``at`` (for context)

    @property
    def price_centers(self) -> np.ndarray:
        return 0.5 * (self.price_edges[1:] + self.price_edges[:-1])

    @property
    def long_usd(self) -> np.ndarray:
        """[P]: long USD per price bin, all tiers."""
        return self.usd[0].sum(axis=0)

    @property
    def short_usd(self) -> np.ndarray:
        """[P]: short USD per price bin, all tiers."""
        return self.usd[1].sum(axis=0)

    @property
    def cumulative_long_usd(self) -> np.ndarray:
        """[P]: long USD in bin j and every bin above it.

        Long levels sit below the price, so below the price this is the USD liquidated
        if the price falls to the bottom of bin j (Coinglass's cumulative long curve).
        """
        return np.cumsum(self.long_usd[::-1])[::-1]

    @property
    def cumulative_short_usd(self) -> np.ndarray:
        """[P]: short USD in bin j and every bin below it (liquidated if price rises to the top of bin j)."""
        return np.cumsum(self.short_usd)


def liquidation_map(
    ohlcv: pd.DataFrame,
    *,
    open_interest=None,
    funding_rate=None,
    mark=None,
    pair: str,
    timeframe: str = "5m",
    config=None,
    tiers=None,
    at=None,
    window: str | None = None,
    price_bins: int = 200,
    price_range: tuple[float, float] | None = None,
) -> LiquidationMap:
    """Outstanding liquidation USD by side, leverage tier and price bin at the close of ``at``.

    :param at: a time (UTC if naive); the map is taken at the close of the candle that
        contains it (the last candle whose open time is ``<= at``). Default: the last candle.
    :param window: one look-back window (``"1d"``); default the config's first window.
    :param price_bins: number of equal-width price bins.
    :param price_range: (low, high) in quote currency; default the close ± 20%
        (``DEFAULT_SPAN``). Levels outside the grid are left out.
    Give at least ``required_startup_candles`` of history before ``at`` so the map is exact.
    :raises DataError: ``at`` before the first candle, bad bins or range.
    """
    inputs, window, w = window_inputs(
        ohlcv, window=window, config=config, open_interest=open_interest, funding_rate=funding_rate,
        mark=mark, pair=pair, timeframe=timeframe, tiers=tiers,
    )
    dates = pd.DatetimeIndex(pd.to_datetime(inputs.dates_ns, utc=True))
    if not len(dates):
        raise DataError("no candles: the liquidation map needs at least one candle.")
    t = len(dates) - 1 if at is None else int(np.searchsorted(dates, to_utc(at), side="right")) - 1
    if t < 0:
        raise DataError(f"at={at} is before the first candle ({dates[0]}); load data that covers it.")
    price = float(inputs.ref_price[t])
    if price_range is None:
        if not np.isfinite(price):
            raise DataError(f"no valid close at or before {dates[t]}; give price_range explicitly.")
        price_range = (price * (1 - DEFAULT_SPAN), price * (1 + DEFAULT_SPAN))
    edges = price_edges(price_range, price_bins)
    expiry, cross, post = window_lifetimes(inputs, w)
    # A level seeded at s is open at the close of t when s <= t < cross and t < expiry[s]
    # (the same rule as the dense heatmap). expiry is non-decreasing in s.
    s0 = int(np.searchsorted(expiry, t, side="right"))
    seeds = np.arange(s0, t + 1)
    n_tiers = inputs.n_tiers
    lv = np.arange(inputs.levels_per_candle)
    side, k, j = lv // (n_tiers * 3), (lv % (n_tiers * 3)) // 3, lv % 3
    prices = inputs.level_price[s0 : t + 1]
    open_ = (inputs.level_bucket[s0 : t + 1] >= 0) & (cross[s0 : t + 1] > t)
    pbin = np.searchsorted(edges, prices, side="right") - 1
    open_ &= (pbin >= 0) & (pbin < price_bins)
    g = inputs.tier_group[k]
    # USD at seeding × survival from s to t (closing and decay), per level.
    survive = np.exp(post[g][:, t][None, :] - post[g][:, seeds].T)
    mass = (
        inputs.seed_usd[seeds][:, side] * (inputs.tier_weight[k] * inputs.entry_weight[j])[None, :] * survive
    )
    cell = (side * n_tiers + k)[None, :] * price_bins + pbin
    usd = np.bincount(cell[open_], weights=mass[open_], minlength=2 * n_tiers * price_bins)
    return LiquidationMap(
        pair=pair,
        window=window,
        at=dates[t],
        close_time=dates[t] + pd.Timedelta(timeframe_to_ns(timeframe), "ns"),
        price=price,
        price_edges=edges,
        leverage=np.asarray(LiqConfig.from_mapping(config).leverage_tiers, dtype=np.float64),
        effective_leverage=inputs.effective_leverage.copy(),
        usd=usd.reshape(2, n_tiers, price_bins),
        candles=ohlcv.iloc[s0 : t + 1].reset_index(drop=True),
    )
