"""Reading freqtrade frames: UTC dates in any epoch unit, numeric columns, auxiliary
frames (OI, funding, mark) and the as-of lookup that aligns them.

Every row is a candle stamped with its open time D; the as-of lookup finds, for each
query time, the latest finite value *available* by then (``D + tf`` for a row of
timeframe ``tf``: freqtrade's rule), no older than a staleness limit.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from liqrisk._util import warn_once
from liqrisk.errors import DataError

#: Integer epoch dates: (upper bound of |value|, ns per unit). Dates since 1973 in
#: seconds stay below 1e11 until the year 5138; in ms below 1e14, in µs below 1e17.
_EPOCH_UNITS = ((1e11, 10**9, "seconds"), (1e14, 10**6, "milliseconds"), (1e17, 10**3, "microseconds"))


def epoch_ns(values, what: str) -> np.ndarray:
    """Numeric epoch dates to int64 ns, the unit read from their magnitude.

    pandas reads integers as nanoseconds, so millisecond epochs (ccxt's, 1.7e12)
    became dates in January 1970 and silently misaligned OI and funding.
    """
    series = values if isinstance(values, pd.Series) else pd.Series(values)
    if series.isna().any():
        raise DataError(f"{what}: 'date' has missing values; drop those rows.")
    raw = series.to_numpy(dtype=np.float64 if series.dtype.kind == "f" else np.int64)
    if not len(raw):
        return np.zeros(0, np.int64)
    top = float(np.max(np.abs(raw.astype(np.float64))))
    factor, unit = next(((f, u) for bound, f, u in _EPOCH_UNITS if top < bound), (1, "nanoseconds"))
    if not np.isfinite(top) or top * factor >= 9.2e18:
        raise DataError(f"{what}: 'date' holds epoch {unit} up to {top:.6g}, past the year 2262; convert the "
                        f"column with pd.to_datetime(df['date'], unit='s'|'ms'|'us'|'ns', utc=True).")
    if raw.dtype.kind == "i":
        return raw * factor  # exact: no float rounding of nanoseconds
    return np.round(raw * factor).astype(np.int64)


def parse_dates_ns(values, what: str) -> np.ndarray:
    """UTC candle open times as int64 ns. Datetimes of any unit or zone, strings, or
    numeric epochs (seconds, ms, µs or ns, told apart by magnitude: see ``_EPOCH_UNITS``)."""
    dtype = getattr(values, "dtype", None)
    if isinstance(dtype, pd.DatetimeTZDtype):  # freqtrade's own layout: no parsing, no index objects
        ns = values.to_numpy(dtype="datetime64[ns]")
        if np.isnat(ns).any():
            raise DataError(f"{what}: 'date' has missing values; drop those rows.")
        return ns.view(np.int64)
    if dtype is not None and getattr(dtype, "kind", "O") in "iuf":
        return epoch_ns(values, what)
    try:
        idx = pd.DatetimeIndex(pd.to_datetime(values, utc=True))
    except (TypeError, ValueError) as e:
        raise DataError(f"{what}: 'date' cannot be parsed as datetimes ({e}).") from e
    if idx.hasnans:
        raise DataError(f"{what}: 'date' has missing values; drop those rows.")
    return idx.as_unit("ns").asi8


def numeric_column(frame: pd.DataFrame, column: str, what: str) -> np.ndarray:
    col = frame[column]
    if col.dtype.kind in "fiu":
        return np.ascontiguousarray(col.to_numpy(dtype=np.float64))
    try:
        return np.ascontiguousarray(pd.to_numeric(col, errors="raise").to_numpy(dtype=np.float64))
    except (TypeError, ValueError) as e:
        raise DataError(f"{what}: column {column!r} is not numeric ({e}).") from e


def date_values(frame: pd.DataFrame, what: str):
    if "date" in frame.columns:
        return frame["date"]
    if isinstance(frame.index, pd.DatetimeIndex):
        return frame.index
    raise DataError(f"{what}: needs a 'date' column (UTC candle open times), got columns {list(frame.columns)}.")


def aux_frame(frame, what: str, pair: str) -> tuple[pd.DataFrame, np.ndarray] | None:
    """Sorted, de-duplicated auxiliary frame and its dates (ns); None if empty."""
    if frame is None:
        return None
    if not isinstance(frame, pd.DataFrame):
        raise DataError(f"{what} must be a pandas DataFrame or None, got {type(frame).__name__}.")
    if frame.empty:
        return None
    dates = parse_dates_ns(date_values(frame, what), what)
    order = np.argsort(dates, kind="stable")
    if np.any(np.diff(dates) <= 0):
        # Keep the last row per date, like freqtrade's own cleaning.
        warn_once(("unsorted", what, pair), "liqrisk: %s for %s was unsorted or had duplicate dates; sorted, kept the last row per date.", what, pair)
        frame = frame.iloc[order]
        dates = dates[order]
        keep = np.append(dates[1:] != dates[:-1], True)
        frame, dates = frame[keep], dates[keep]
    return frame, dates


def infer_timeframe_ns(dates: np.ndarray, default: int) -> int:
    if len(dates) < 2:
        return default
    return int(np.median(np.diff(dates)))


def asof(avail_ns: np.ndarray, values: np.ndarray, query_ns: np.ndarray, max_age_ns: int) -> np.ndarray:
    """Latest finite value available at each query time and not older than max_age."""
    ok = np.isfinite(values)
    avail_ns, values = avail_ns[ok], values[ok]
    idx = np.searchsorted(avail_ns, query_ns, side="right") - 1
    safe = np.maximum(idx, 0)
    fresh = (idx >= 0) & (query_ns - avail_ns[safe] <= max_age_ns) if len(values) else np.zeros(len(query_ns), bool)
    return np.where(fresh, values[safe] if len(values) else np.nan, np.nan)
