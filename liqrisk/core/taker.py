"""The taker buy share of each candle from Binance's 5-minute taker long/short volume ratio.

The engine splits new notional between longs and shorts by the candle's taker buy share
when the candles carry ``taker_buy_volume`` (``liqrisk.core.model.long_share``).
freqtrade's candles have no such column, but Binance's public data archive publishes,
every 5 minutes, ``sum_taker_long_short_vol_ratio`` r = taker buy volume / taker sell
volume, which ``liqrisk download-oi`` keeps in ``<PAIR>-5m-oi_metrics.feather``.
``taker_buy_volume`` turns those rows into the column the engine reads.

* **Share.** Over one 5-minute row the buy share is r / (1 + r).
* **Time alignment (no lookahead).** The row stamped D (its ``create_time``) covers the
  five minutes [D − 5m, D) and is known at D. Candle t, [d_t, c_t), takes the rows with
  d_t < D ≤ c_t: its own five-minute slices, all known by its close.
* **Coarser candles.** The candle's share is the volume-weighted mean of its slices'
  shares, Σ share_i · v_i / Σ v_i, which is Σ buy / Σ (buy + sell) when v_i is each
  slice's traded volume; the weights are the 5m candles' volume when given, else equal. A
  candle whose present slices hold less than ``min_coverage`` of it (by count, or by
  volume with weights) gets NaN: the engine then uses the candle-shape split there.
* **Finer candles** than 5 minutes are not served (NaN): a slice would spill over
  several candles.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from liqrisk.core.frames import parse_dates_ns

#: The archive's column and the metrics rows' spacing.
RATIO_COLUMN = "sum_taker_long_short_vol_ratio"
SLICE_NS = 300 * 10**9


def _dates(values, what: str) -> np.ndarray:
    return parse_dates_ns(values, what)


def taker_buy_share(dates, timeframe: str, metrics: pd.DataFrame | None, *, volume_5m: pd.DataFrame | None = None,
                    min_coverage: float = 0.5) -> np.ndarray:
    """Taker buy share (0..1, float64) per candle; NaN where unknown (see the module docstring).

    :param dates: the candles' UTC open times.
    :param timeframe: the candles' timeframe, a multiple of 5m (e.g. ``"5m"``, ``"1h"``).
    :param metrics: ``date`` + ``sum_taker_long_short_vol_ratio`` rows (the metrics file).
    :param volume_5m: the pair's 5m candles (``date, volume``) to weight slices; optional.
    """
    from liqrisk._util import candle_timeframe_ns

    open_ns = _dates(pd.Series(dates), "ohlcv") if len(dates) else np.zeros(0, np.int64)
    out = np.full(len(open_ns), np.nan)
    tf = candle_timeframe_ns(timeframe)
    if metrics is None or metrics.empty or RATIO_COLUMN not in metrics or tf % SLICE_NS or not len(open_ns):
        return out
    stamps = _dates(metrics["date"], "oi_metrics")
    ratio = pd.to_numeric(metrics[RATIO_COLUMN], errors="coerce").to_numpy(np.float64)
    ok = np.isfinite(ratio) & (ratio >= 0)
    stamps, ratio = stamps[ok], ratio[ok]
    order = np.argsort(stamps, kind="stable")
    stamps, ratio = stamps[order], ratio[order]
    keep = np.append(stamps[1:] != stamps[:-1], True)
    stamps, share = stamps[keep], ratio[keep] / (1.0 + ratio[keep])
    # The candle holding each slice [D − 5m, D): the one with d_t < D ≤ c_t.
    pos = np.searchsorted(open_ns, stamps, side="left") - 1
    inside = (pos >= 0) & (stamps <= open_ns[np.maximum(pos, 0)] + tf)
    if volume_5m is not None and not volume_5m.empty:
        v_dates = _dates(volume_5m["date"], "5m candles")
        v_vol = pd.to_numeric(volume_5m["volume"], errors="coerce").to_numpy(np.float64)
        at = np.searchsorted(v_dates, stamps - SLICE_NS)
        hit = (at < len(v_dates)) & (v_dates[np.minimum(at, len(v_dates) - 1)] == stamps - SLICE_NS)
        weight = np.where(hit, v_vol[np.minimum(at, len(v_dates) - 1)], np.nan)
        # Coverage by volume: every 5m slice of the candle, with or without a ratio.
        v_pos = np.searchsorted(open_ns, v_dates + SLICE_NS, side="left") - 1
        v_in = (v_pos >= 0) & (v_dates + SLICE_NS <= open_ns[np.maximum(v_pos, 0)] + tf) & np.isfinite(v_vol)
        whole = np.bincount(v_pos[v_in], weights=v_vol[v_in], minlength=len(open_ns))
    else:
        weight = np.ones(len(stamps))
        whole = np.full(len(open_ns), float(tf // SLICE_NS))
    use = inside & np.isfinite(weight) & (weight >= 0)
    w = np.bincount(pos[use], weights=weight[use], minlength=len(open_ns))
    ws = np.bincount(pos[use], weights=(weight * share)[use], minlength=len(open_ns))
    with np.errstate(invalid="ignore", divide="ignore"):
        good = (w > 0) & (w >= min_coverage * whole)
        out = np.where(good, ws / np.where(w > 0, w, 1.0), np.nan)
    return np.clip(out, 0.0, 1.0)


def with_taker_volume(ohlcv: pd.DataFrame, share: np.ndarray) -> pd.DataFrame:
    """``ohlcv`` plus ``taker_buy_volume`` = share × volume (base units; NaN where the share
    is unknown), the column ``compute_features`` reads. A copy; ``ohlcv`` is not changed."""
    out = ohlcv.copy()
    volume = pd.to_numeric(out["volume"], errors="coerce").to_numpy(np.float64)
    out["taker_buy_volume"] = np.asarray(share, dtype=np.float64) * volume
    return out
