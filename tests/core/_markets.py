"""Small hand-made and hypothesis-generated markets for the core tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import strategies as st


def frames_from_path(close, *, wick=0.002, oi=None, start="2024-03-01", freq="1h", volume=1.0, funding=None):
    """Candles from a close path (quote), optional OI value path (quote), 1h by default."""
    close = np.asarray(close, dtype=float)
    n = len(close)
    dates = pd.date_range(start, periods=n, freq=freq, tz="UTC")
    open_ = np.concatenate(([close[0]], close[:-1]))
    wick = np.broadcast_to(np.asarray(wick, dtype=float), (n,))
    ohlcv = pd.DataFrame({
        "date": dates, "open": open_, "close": close,
        "high": np.maximum(open_, close) * (1 + wick), "low": np.minimum(open_, close) * (1 - wick),
        "volume": np.broadcast_to(volume, (n,)).astype(float),
    })
    out = {"ohlcv": ohlcv}
    if oi is not None:
        out["open_interest"] = pd.DataFrame({"date": dates, "open_interest_value": np.asarray(oi, float)})
    if funding is not None:
        out["funding_rate"] = pd.DataFrame({"date": dates, "funding_rate": np.asarray(funding, float)})
    return out


@st.composite
def markets(draw, min_size=1, max_size=48, allow_nan=True):
    """Random 1h markets: fat-ish returns, OI with rises and falls, optional NaN and gaps."""
    n = draw(st.integers(min_size, max_size))
    rets = np.array(draw(st.lists(st.floats(-0.08, 0.08), min_size=n, max_size=n)))
    wicks = np.array(draw(st.lists(st.floats(0.0, 0.06), min_size=n, max_size=n)))
    close = 100.0 * np.exp(np.cumsum(rets))
    oi_steps = np.array(draw(st.lists(st.floats(-0.3, 0.3), min_size=n, max_size=n)))
    oi = 1e6 * np.exp(np.cumsum(oi_steps))
    funding = np.array(draw(st.lists(st.floats(-0.002, 0.002), min_size=n, max_size=n)))
    f = frames_from_path(close, wick=wicks, oi=oi, funding=funding, volume=np.linspace(1, 3, n))
    if allow_nan and n > 2 and draw(st.booleans()):
        rows = draw(st.lists(st.integers(0, n - 1), max_size=3))
        f["ohlcv"].loc[rows, ["high", "low", "close"]] = np.nan
        f["open_interest"].loc[draw(st.lists(st.integers(0, n - 1), max_size=3)), "open_interest_value"] = np.nan
    if n > 3 and draw(st.booleans()):  # gaps: drop some candles (and their OI)
        drop = sorted(set(draw(st.lists(st.integers(1, n - 1), max_size=3))))
        # Keep 1h the most common spacing (each dropped row turns two 1h steps into one
        # longer one), or the candles would not be 1h candles with gaps (check_timeframe).
        kept = np.delete(f["ohlcv"]["date"].to_numpy(), drop)
        steps, counts = np.unique(np.diff(kept), return_counts=True)
        # A single kept candle has no spacing at all: not a market with gaps either.
        if not len(steps) or (steps[np.argmax(counts)] != np.timedelta64(1, "h") or (counts == counts.max()).sum() > 1):
            drop = []
        for key in f:
            f[key] = f[key].drop(index=drop).reset_index(drop=True)
    return f


configs = st.fixed_dictionaries({
    "windows": st.sampled_from([("6h",), ("3h", "12h"), ("2h", "6h", "1d")]),
    "tier_half_life": st.sampled_from([None, "4h", ("2h", "4h", "8h", "1d", None)]),
    "cluster_threshold": st.sampled_from([0.5, 0.2, 1.0]),
    "bucket_width": st.sampled_from([0.0025, 0.01]),
    "intra_turnover": st.sampled_from([0.0, 0.5]),
    "intra_spread": st.sampled_from([1.0, 3.0]),
    "turnover_per_day": st.sampled_from([0.0, 2.0]),
})
