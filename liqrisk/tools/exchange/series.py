"""Numpy views of a ``MarketSource`` for the request handlers: candle series, aggregation, windows.

All times are epoch milliseconds (UTC). A candle's time is its open; a candle is served once
its open time is at or before the server's "now", so a live source's forming candle shows up
as Binance's last, incomplete kline.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import pandas as pd

from liqrisk.tools.exchange.binance_shapes import INTERVAL_MS, INTERVAL_ORIGIN_MS
from liqrisk.tools.exchange.source import KIND_COLUMNS, MarketSource

#: Fixed-length intervals from finest to coarsest, used to find a file to aggregate from.
FIXED_INTERVALS: list[str] = [tf for tf, ms in sorted(
    ((tf, ms) for tf, ms in INTERVAL_MS.items() if ms), key=lambda x: x[1])]

#: Funding files may be stored at any of these timeframes; freqtrade's default is 1h.
FUNDING_TIMEFRAMES: tuple[str, ...] = ("1h", "8h", "4h", "2h", "1m", "5m", "15m", "30m")


@dataclass(frozen=True)
class Series:
    """One candle series: ``t`` open times (int64 ms, ascending, unique) and float64 columns."""

    t: np.ndarray
    cols: dict[str, np.ndarray]
    interval_ms: int | None

    def __len__(self) -> int:
        return len(self.t)

    def window(self, start: int | None, end: int | None, limit: int, now_ms: int) -> slice:
        """Rows as Binance selects them: open time in [start, min(end, now)], at most ``limit``,
        the earliest ones when ``start`` is given, otherwise the latest ones."""
        hi_t = now_ms if end is None else min(end, now_ms)
        hi = int(np.searchsorted(self.t, hi_t, side="right"))
        lo = 0 if start is None else int(np.searchsorted(self.t, start, side="left"))
        if hi <= lo:
            return slice(lo, lo)
        if start is not None:
            return slice(lo, min(hi, lo + limit))
        return slice(max(lo, hi - limit), hi)

    def last_index(self, now_ms: int) -> int | None:
        """Index of the last row at or before ``now_ms``, or None when every row is later."""
        i = int(np.searchsorted(self.t, now_ms, side="right")) - 1
        return i if i >= 0 else None


def _to_series(df: pd.DataFrame, kind: str, interval_ms: int | None) -> Series:
    dates = pd.to_datetime(df["date"], utc=True)
    t = dates.dt.as_unit("ms").astype("int64").to_numpy(dtype=np.int64)
    cols = {c: df[c].to_numpy(dtype=np.float64, na_value=np.nan) for c in KIND_COLUMNS[kind]}
    # Duplicated stamps would make windows ambiguous; keep the last (freqtrade does the same).
    if len(t) > 1 and not np.all(np.diff(t) > 0):
        order = np.argsort(t, kind="stable")
        t = t[order]
        cols = {c: v[order] for c, v in cols.items()}
        keep = np.append(t[1:] != t[:-1], True)
        t = t[keep]
        cols = {c: v[keep] for c, v in cols.items()}
    return Series(t=t, cols=cols, interval_ms=interval_ms)


def aggregate(src: Series, interval: str) -> Series:
    """OHLCV candles of ``interval`` from finer candles: first open, max high, min low, last close,
    summed volume. The last group may be incomplete, like Binance's forming candle."""
    ms = INTERVAL_MS[interval]
    assert ms is not None
    origin = INTERVAL_ORIGIN_MS.get(interval, 0)
    bucket = (src.t - origin) // ms * ms + origin
    starts = np.flatnonzero(np.append(True, bucket[1:] != bucket[:-1]))
    ends = np.append(starts[1:], len(bucket))
    c = src.cols
    cols = {
        "open": c["open"][starts],
        "high": np.maximum.reduceat(c["high"], starts),
        "low": np.minimum.reduceat(c["low"], starts),
        "close": c["close"][ends - 1],
        "volume": np.add.reduceat(np.nan_to_num(c["volume"]), starts),
    }
    return Series(t=bucket[starts], cols=cols, interval_ms=ms)


def sample(src: Series, interval: str) -> Series:
    """Snapshot values (open interest) at ``interval`` boundaries from a finer series."""
    ms = INTERVAL_MS[interval]
    assert ms is not None
    keep = (src.t - INTERVAL_ORIGIN_MS.get(interval, 0)) % ms == 0
    return Series(t=src.t[keep], cols={k: v[keep] for k, v in src.cols.items()}, interval_ms=ms)


class MarketView:
    """Series of a source, converted once per source frame and cached.

    A frame is re-converted when the source hands out a different object or the frame grew,
    which is how a live source's new candles get in.
    """

    def __init__(self, source: MarketSource):
        self.source = source
        self._cache: dict[tuple, tuple[tuple, Series | None]] = {}
        self._lock = threading.Lock()

    @property
    def pairs(self) -> list[str]:
        return list(self.source.pairs)

    def _exact(self, pair: str, kind: str, timeframe: str) -> Series | None:
        df = self.source.frame(pair, kind, timeframe)
        token = None if df is None else (id(df), len(df), df["date"].iloc[-1] if len(df) else None)
        key = (pair, kind, timeframe)
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None and hit[0] == token:
                return hit[1]
        series = None if df is None or df.empty else _to_series(df, kind, INTERVAL_MS.get(timeframe))
        with self._lock:
            self._cache[key] = (token, series)
        return series

    def candles(self, pair: str, kind: str, interval: str) -> Series | None:
        """``kind`` ("futures" or "mark") candles at ``interval``: the file of that interval, or
        a finer file whose timeframe divides it, aggregated (the coarsest such file: fewest rows)."""
        exact = self._exact(pair, kind, interval)
        if exact is not None or INTERVAL_MS.get(interval) is None:
            return exact
        for tf in self._finer(interval):
            src = self._exact(pair, kind, tf)
            if src is not None:
                return aggregate(src, interval)
        return None

    def open_interest(self, pair: str, period: str) -> Series | None:
        exact = self._exact(pair, "open_interest", period)
        if exact is not None:
            return exact
        for tf in self._finer(period):
            src = self._exact(pair, "open_interest", tf)
            if src is not None:
                return sample(src, period)
        return None

    def funding(self, pair: str) -> Series | None:
        for tf in FUNDING_TIMEFRAMES:
            s = self._exact(pair, "funding_rate", tf)
            if s is not None:
                return s
        return None

    def finest(self, pair: str, kind: str) -> Series | None:
        """The finest-grained series of ``kind`` there is (for prices "now" and 24h statistics)."""
        for tf in FIXED_INTERVALS:
            s = self._exact(pair, kind, tf)
            if s is not None:
                return s
        return None

    @staticmethod
    def _finer(interval: str) -> list[str]:
        ms = INTERVAL_MS[interval]
        assert ms is not None
        finer = [tf for tf in FIXED_INTERVALS if INTERVAL_MS[tf] < ms and ms % INTERVAL_MS[tf] == 0]
        return list(reversed(finer))  # coarsest first: fewer rows to aggregate
