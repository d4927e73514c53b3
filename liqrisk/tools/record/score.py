"""A rolling score of the map against recorded liquidations: features already computed + the
recording -> per pair and side, Spearman and any-liquidation AUC, with wick × OI beside them.

Pure pandas/numpy: the caller (a bot's analysed frames, a notebook) brings the feature
frame; nothing here runs the engine. Candle t (UTC open d_t) is scored when the
recording covers ``[d_t, d_t + tf)`` on every summed exchange (``Recorded.actuals``:
a candle touching a gap is unknown, never zero), when it lies in the last ``days`` days
before ``now``, and when its estimate and baseline are known. The metrics are
``liqrisk.tools.validate.metrics``' own (``spearman``, ``auc_any``), so the figures
match ``liqrisk validate`` on the same candles.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from liqrisk._util import timeframe_to_ns
from liqrisk.tools.record.venues import VENUES
from liqrisk.tools.validate.actuals import SIDES, actuals_per_candle, baselines, oi_at_open
from liqrisk.tools.validate.metrics import MIN_CANDLES, auc_any, spearman


@dataclass
class PairScore:
    """One pair's figures over its scored candles. ``sides[side]``: ``n, with_liq, spearman,
    auc, base_spearman, base_auc`` (NaN when unknown); ``note``: why nothing was scored."""

    pair: str
    timeframe: str
    window: str
    n: int = 0
    first: pd.Timestamp | None = None
    last: pd.Timestamp | None = None
    sides: dict = field(default_factory=dict)
    note: str = ""


def estimate_window(columns, preferred: str | None = None) -> str | None:
    """The window of the ``liq_long_est_usd_<w>`` columns to score: ``preferred`` when present,
    else the longest one in ``columns`` (None: no estimate column)."""
    found = [c[len("liq_long_est_usd_"):] for c in columns if str(c).startswith("liq_long_est_usd_")]
    found = [w for w in found if f"liq_short_est_usd_{w}" in columns]
    if preferred in found:
        return preferred
    if not found:
        return None
    return max(found, key=lambda w: timeframe_to_ns(w, key="window"))


def score_pair(features: pd.DataFrame, actual: pd.DataFrame, *, pair: str, timeframe: str,
               open_interest: pd.DataFrame | None = None, window: str | None = None, days: float = 7.0,
               now: pd.Timestamp | None = None) -> PairScore:
    """Score one pair.

    :param features: ``date`` (UTC candle open), ``open, high, low, close`` and the
        ``liq_<side>_est_usd_<window>`` columns (a bot's analysed frame).
    :param actual: the recording's covered candles, ``date, long_usd, short_usd`` (USD per
        candle, ``Recorded.actuals`` at ``timeframe``); a missing row is unknown.
    :param open_interest: freqtrade ``open_interest`` candles, for the wick × OI baseline
        (without them the baseline is the bare wick).
    :param window: the window to score (default: the longest one in ``features``).
    :param days: score the candles that closed in the last ``days`` days before ``now``.
    :param now: the clock (UTC; default: now).
    """
    window = estimate_window(features.columns, window)
    out = PairScore(pair=pair, timeframe=timeframe, window=window or "")
    if window is None:
        out.note = "no liq_*_est_usd_<window> columns"
        return out
    if features.empty or actual is None or actual.empty:
        out.note = "nothing recorded yet" if features is not None and not features.empty else "no candles"
        return out
    now = pd.Timestamp.now(tz="UTC") if now is None else pd.Timestamp(now)
    tf = pd.Timedelta(timeframe_to_ns(timeframe), unit="ns")
    dates = pd.DatetimeIndex(pd.to_datetime(features["date"], utc=True))
    act = actuals_per_candle(actual, dates, timeframe, what=f"recorded liquidations of {pair}").to_numpy(np.float64)
    oi = oi_at_open(dates, open_interest, timeframe)
    base = baselines(features, oi if np.isfinite(oi).any() else None)  # no OI at all: the bare wick
    est = np.column_stack([features[f"liq_{s}_est_usd_{window}"].to_numpy(dtype=np.float64) for s in SIDES])
    bas = np.column_stack([base[s]["wick_oi"].to_numpy(dtype=np.float64) for s in SIDES])
    closes = dates + tf
    keep = (np.asarray(closes <= now) & np.asarray(closes > now - pd.Timedelta(days=days))
            & np.isfinite(act).all(axis=1) & np.isfinite(est).all(axis=1) & np.isfinite(bas).all(axis=1))
    out.n = int(keep.sum())
    if out.n < MIN_CANDLES:
        out.note = f"{out.n} covered candle(s) in the last {days:g} days; need {MIN_CANDLES}"
        return out
    out.first, out.last = dates[keep][0], dates[keep][-1]
    for k, side in enumerate(SIDES):
        e, a, b = est[keep, k], act[keep, k], bas[keep, k]
        out.sides[side] = {"n": out.n, "with_liq": int((a > 0).sum()), "spearman": spearman(e, a),
                           "auc": auc_any(e, a), "base_spearman": spearman(b, a), "base_auc": auc_any(b, a)}
    return out


def _f(x: float) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.2f}"


def format_report(scores: list[PairScore], *, days: float, exchanges: list[str]) -> str:
    """A short message (well under Telegram's 4096 characters for a few dozen pairs)::

        liqrisk map vs recorded liquidations, last 7 days (binance; sampled, an undercount)
        BTC/USDT:USDT 5m 1d, 1,900 candles: long rho 0.41 (wick×OI 0.33) AUC 0.71 (0.66) | short ...
    """
    sampled = any(VENUES[e].sampled for e in exchanges if e in VENUES)
    note = "; sampled: at most 1 per symbol per second, an undercount" if sampled else ""
    lines = [f"liqrisk map vs recorded liquidations, last {days:g} days ({', '.join(exchanges) or '-'}{note})"]
    for s in scores:
        if not s.sides:
            lines.append(f"{s.pair}: not scored ({s.note})")
            continue
        parts = [f"{side} rho {_f(m['spearman'])} (wick×OI {_f(m['base_spearman'])}) AUC {_f(m['auc'])} "
                 f"({_f(m['base_auc'])}), {m['with_liq']} with liq." for side, m in s.sides.items()]
        lines.append(f"{s.pair} {s.timeframe} {s.window}, {s.n:,} candles: " + " | ".join(parts))
    return "\n".join(lines)
