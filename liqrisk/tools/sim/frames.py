"""1-minute series → freqtrade frames (futures, mark, funding_rate, open_interest).

Column layouts and dtypes are freqtrade's (``freqtrade.candle_columns``): ``date`` is
``datetime64[ms, UTC]`` (candle open time), values are float64. Aggregation to 5m / 1h
uses UTC-aligned buckets; a trailing bucket that is not complete is kept as a partial
candle (what an exchange returns for the candle in progress).

Open interest follows Binance's ``openInterestHist``: the row stamped T is the snapshot
at time T, i.e. the open interest at the end of the minute before T.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

MINUTE_MS = 60_000
TIMEFRAME_MINUTES = {"1m": 1, "3m": 3, "5m": 5, "15m": 15, "30m": 30, "1h": 60, "2h": 120, "4h": 240,
                     "8h": 480, "1d": 1440}
OHLCV_COLUMNS = ["date", "open", "high", "low", "close", "volume"]
FUNDING_COLUMNS = ["date", "funding_rate"]
OI_COLUMNS = ["date", "open_interest_amount", "open_interest_value"]


def dates(ms: np.ndarray) -> pd.DatetimeIndex:
    """UTC ms → ``datetime64[ms, UTC]``."""
    return pd.DatetimeIndex(np.asarray(ms, dtype="datetime64[ms]")).tz_localize("UTC")


def round_to_tick(values: np.ndarray, tick: float) -> np.ndarray:
    """Round prices to the exchange tick, as printed by the exchange (no 0.1000000001)."""
    decimals = max(0, -math.floor(math.log10(tick)) + 1)
    return np.round(np.round(values / tick) * tick, decimals)


def bucket_starts(start_ms: int, n: int, minutes: int) -> np.ndarray:
    """Row indices where a UTC-aligned bucket of ``minutes`` starts (always includes 0)."""
    t = start_ms + MINUTE_MS * np.arange(n, dtype=np.int64)
    starts = np.flatnonzero(t % (minutes * MINUTE_MS) == 0)
    if starts.size == 0 or starts[0] != 0:
        starts = np.concatenate(([0], starts))
    return starts


def aggregate_ohlc(start_ms: int, ohlc: np.ndarray, volume: np.ndarray | None, minutes: int):
    """Aggregate 1m rows (open, high, low, close[, volume]) into ``minutes`` buckets.

    :returns: (bucket open times in UTC ms, (k, 5) array of OHLCV). The first bucket's
        time is floored to the grid, so a series starting mid-bucket gives a partial one.
    """
    n = ohlc.shape[0]
    if n == 0:
        return np.empty(0, dtype=np.int64), np.empty((0, 5))
    if minutes == 1:
        out = np.empty((n, 5))
        out[:, :4] = ohlc[:, :4]
        out[:, 4] = 0.0 if volume is None else volume
        return start_ms + MINUTE_MS * np.arange(n, dtype=np.int64), out
    starts = bucket_starts(start_ms, n, minutes)
    ends = np.append(starts[1:], n) - 1
    out = np.empty((starts.size, 5))
    out[:, 0] = ohlc[starts, 0]
    out[:, 1] = np.maximum.reduceat(ohlc[:, 1], starts)
    out[:, 2] = np.minimum.reduceat(ohlc[:, 2], starts)
    out[:, 3] = ohlc[ends, 3]
    out[:, 4] = 0.0 if volume is None else np.add.reduceat(volume, starts)
    t = start_ms + MINUTE_MS * starts.astype(np.int64)
    t -= t % (minutes * MINUTE_MS)
    return t, out


def ohlcv_frame(times_ms: np.ndarray, values: np.ndarray) -> pd.DataFrame:
    """freqtrade OHLCV frame from bucket times and an (k, 5) array."""
    return pd.DataFrame(
        {
            "date": dates(times_ms),
            "open": values[:, 0],
            "high": values[:, 1],
            "low": values[:, 2],
            "close": values[:, 3],
            "volume": values[:, 4],
        }
    )


def funding_frame(times_ms: np.ndarray, rates: np.ndarray) -> pd.DataFrame:
    """One row per settlement (UTC ms of the settlement, rate as a fraction per 8 h)."""
    return pd.DataFrame({"date": dates(times_ms), "funding_rate": np.asarray(rates, dtype=np.float64)})


def open_interest_rows(start_ms: int, oi_end: np.ndarray, mark_close: np.ndarray, oi_before: float,
                       mark_before: float, minutes: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Snapshots every ``minutes`` from per-minute end-of-minute series.

    Row T (UTC-aligned, ``start_ms <= T <= start_ms + 60_000·n``) holds the open interest
    at the end of the minute before T, in base units, and its value at that minute's
    mark close (USD). ``oi_before`` / ``mark_before`` are the values at ``start_ms``
    itself (end of the minute before the series).
    """
    n = oi_end.size
    t = start_ms + MINUTE_MS * np.arange(n + 1, dtype=np.int64)
    rows = np.flatnonzero(t % (minutes * MINUTE_MS) == 0)
    oi_all = np.concatenate(([oi_before], oi_end))
    mark_all = np.concatenate(([mark_before], mark_close))
    amount = oi_all[rows]
    return t[rows], amount, amount * mark_all[rows]


def open_interest_frame(times_ms: np.ndarray, amount: np.ndarray, value: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(
        {"date": dates(times_ms), "open_interest_amount": amount, "open_interest_value": value}
    )
