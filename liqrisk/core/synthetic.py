"""Synthetic freqtrade-format candles, OI and funding, for demos, benchmarks and tests.

Not a market model (that is ``liqrisk.tools.sim``): a GARCH(1,1) random walk with
Student-t shocks, OI that drifts with a mean-reverting random walk and drops on big
down moves, and 8-hourly funding that follows recent returns. Deterministic per seed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from liqrisk._util import timeframe_to_ns


def random_market(
    n: int, *, timeframe: str = "5m", seed: int = 0, start: str = "2024-01-01", price: float = 60_000.0,
    oi_usd: float = 5e9, vol_per_year: float = 0.6,
) -> dict[str, pd.DataFrame]:
    """``{"ohlcv", "open_interest", "funding_rate", "mark"}`` frames in freqtrade's columns.

    Prices in quote currency, volume in base units, OI value in quote and amount in
    base, funding as a fraction per 8h (stamped at settlement times, 1h rows).
    """
    rng = np.random.default_rng(seed)
    tf_ns = timeframe_to_ns(timeframe)
    dt_years = tf_ns / (365 * 86400 * 1e9)
    base_var = vol_per_year**2 * dt_years
    shocks = rng.standard_t(4, size=n) / np.sqrt(2.0)  # unit variance
    var = np.empty(n)
    ret = np.empty(n)
    v = base_var
    for i in range(n):  # GARCH(1,1): omega + 0.08 r² + 0.9 v
        var[i] = v
        ret[i] = np.sqrt(v) * shocks[i]
        v = base_var * 0.02 + 0.08 * ret[i] ** 2 + 0.9 * v
    close = price * np.exp(np.cumsum(ret))
    open_ = np.concatenate(([price], close[:-1]))
    wick = np.abs(rng.standard_normal((2, n))) * np.sqrt(var) * 0.8
    high = np.maximum(open_, close) * np.exp(wick[0])
    low = np.minimum(open_, close) * np.exp(-wick[1])
    volume = (oi_usd / price) * 0.002 * (1 + 40 * np.abs(ret)) * rng.lognormal(0, 0.3, n)
    dates = pd.date_range(pd.Timestamp(start, tz="UTC"), periods=n, freq=pd.Timedelta(tf_ns, "ns"))
    ohlcv = pd.DataFrame({"date": dates, "open": open_, "high": high, "low": low, "close": close, "volume": volume})

    # OI: mean-reverting log walk, pushed down by large down candles (liquidations).
    log_oi = np.empty(n)
    x = 0.0
    drops = np.minimum(ret, 0.0) / np.sqrt(base_var)
    for i in range(n):
        x = 0.999 * x + 0.004 * rng.standard_normal() + 0.002 * np.minimum(drops[i] + 2.0, 0.0)
        log_oi[i] = x
    oi_value = oi_usd * np.exp(log_oi)
    open_interest = pd.DataFrame({"date": dates, "open_interest_amount": oi_value / close, "open_interest_value": oi_value})

    mark = ohlcv[["date", "open", "high", "low", "close"]].copy()
    mark[["open", "high", "low", "close"]] *= 1.0 + 0.0002 * rng.standard_normal((n, 1))
    mark["high"] = mark[["open", "high", "close"]].max(axis=1)
    mark["low"] = mark[["open", "low", "close"]].min(axis=1)
    mark["volume"] = 0.0

    hours = pd.date_range(dates[0].floor("8h"), dates[-1] + pd.Timedelta(tf_ns, "ns"), freq="8h")
    mom = pd.Series(close, index=dates).reindex(hours, method="ffill").pct_change(fill_method=None).fillna(0.0).to_numpy()
    rate = np.clip(0.0001 + 0.02 * mom + 0.00005 * rng.standard_normal(len(hours)), -0.0075, 0.0075)
    funding = pd.DataFrame({"date": hours, "funding_rate": rate})
    return {"ohlcv": ohlcv, "open_interest": open_interest, "funding_rate": funding, "mark": mark}
