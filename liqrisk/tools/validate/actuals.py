"""Actual liquidations per candle, and the map-free baselines they are compared with.

What is compared
----------------
Candle t (UTC open time d_t, timeframe tf) covers ``[d_t, d_t + tf)``. Its estimate is
``liq_long_est_usd_<w>`` / ``liq_short_est_usd_<w>``: USD of modelled long / short levels
that t's wick crossed (quote currency, known at t's close). Its actual is the USD of
long / short positions force-liquidated inside ``[d_t, d_t + tf)`` ("long" = longs were
liquidated, which happens on the way *down*).

Actual liquidations come as

* per-candle totals ``date, long_usd, short_usd`` (``date`` = the row's UTC open time;
  rows may be finer than the candles and are then summed, never coarser), or
* per-event records ``date, side, usd`` (``price`` optional; ``side`` 'long'/'short'),
  the format of ``liqrisk simulate``'s ``liqrisk_truth/liquidations.parquet``; events
  are summed into the candle that contains them.

Numeric dates are UTC epoch milliseconds. Candles inside the actuals' span with no
event count as zero; for per-candle totals a missing row is *missing*, not zero.

"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from liqrisk._util import timeframe_to_ns
from liqrisk.errors import ConfigError, DataError

SIDES = ("long", "short")
_MS = 1_000_000  # ns per ms


def read_actuals(path: str | Path, *, pair: str | None = None) -> pd.DataFrame:
    """Read an actual-liquidations file (.csv, .feather, .parquet, .json) as given.

    An optional ``pair`` column is filtered on ``pair``. The columns are checked by
    ``actuals_per_candle``.

    :raises ConfigError: no such file or unknown extension.
    :raises DataError: unreadable file, or no rows for ``pair``.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"liquidations file {path}: no such file.")
    readers = {".csv": pd.read_csv, ".feather": pd.read_feather, ".parquet": pd.read_parquet,
               ".json": pd.read_json}
    reader = readers.get(path.suffix.lower())
    if reader is None:
        raise ConfigError(f"liquidations file {path}: unknown format {path.suffix!r}; use .csv, .feather, .parquet "
                          "or .json.")
    try:
        frame = reader(path)
    except Exception as e:  # pandas raises many kinds for unreadable files
        raise DataError(f"liquidations file {path}: cannot read it ({e}).") from e
    if pair is not None and "pair" in frame.columns:
        pairs = frame["pair"].astype(str)
        if not (pairs == pair).any():
            raise DataError(f"liquidations file {path}: no rows for {pair}; the file has pairs "
                            f"{sorted(pairs.unique())[:10]}.")
        frame = frame[pairs == pair]
    return frame.reset_index(drop=True)


def _dates_ns(values, what: str) -> np.ndarray:
    try:
        if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            idx = pd.DatetimeIndex(pd.to_datetime(np.asarray(values, dtype=np.int64), unit="ms", utc=True))
        else:
            idx = pd.DatetimeIndex(pd.to_datetime(values, utc=True))
    except (TypeError, ValueError, OverflowError) as e:
        raise DataError(f"{what}: 'date' cannot be parsed as UTC datetimes or epoch milliseconds ({e}).") from e
    if idx.hasnans:
        raise DataError(f"{what}: 'date' has missing values; drop those rows.")
    return idx.as_unit("ns").asi8


def _usd(frame: pd.DataFrame, column: str, what: str) -> np.ndarray:
    try:
        values = pd.to_numeric(frame[column], errors="raise").to_numpy(dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise DataError(f"{what}: column {column!r} is not numeric ({e}).") from e
    bad = ~np.isfinite(values)
    if bad.any():
        raise DataError(f"{what}: column {column!r} has {int(bad.sum())} missing or infinite value(s) (first at row "
                        f"{int(np.argmax(bad))}); drop those rows or fill them with 0.")
    if (values < 0).any():
        i = int(np.argmax(values < 0))
        raise DataError(f"{what}: column {column!r} has negative USD ({values[i]:g} at row {i}); liquidated USD "
                        "is >= 0 (the side says which positions were liquidated).")
    return values


def actuals_per_candle(
    actual: pd.DataFrame, candle_dates, timeframe: str, *, span_ms: tuple[int, int] | None = None,
    what: str = "liquidations",
) -> pd.DataFrame:
    """Actual liquidated USD per candle and side.

    :param actual: per-candle totals (``date, long_usd, short_usd``) or per-event records
        (``date, side, usd``); see the module docstring.
    :param candle_dates: the candles' UTC open times (strictly increasing).
    :param timeframe: the candles' timeframe, e.g. ``"5m"``.
    :param span_ms: ``[start, end)`` in epoch ms that the events cover (the simulator's
        ``meta.json``); default: from the candle of the first event to that of the last.
        Ignored for per-candle totals.
    :returns: ``long_usd, short_usd`` (quote currency) with one row per candle, same
        order; NaN where the actuals say nothing about the candle.
    :raises DataError: missing columns, negative or missing USD, unknown sides, rows
        coarser than or misaligned with the candles, no overlap with the candles.
    """
    tf = timeframe_to_ns(timeframe)
    dates = pd.DatetimeIndex(pd.to_datetime(candle_dates, utc=True)).as_unit("ns").asi8
    n = len(dates)
    out = np.full((n, 2), np.nan)
    if not isinstance(actual, pd.DataFrame):
        raise DataError(f"{what} must be a DataFrame, got {type(actual).__name__}.")
    cols = set(actual.columns)
    if "date" not in cols:
        raise DataError(f"{what}: needs a 'date' column (UTC, candle open time or event time); got "
                        f"{list(actual.columns)}.")
    if {"long_usd", "short_usd"} <= cols:
        kind = "totals"
    elif {"side", "usd"} <= cols:
        kind = "events"
    else:
        raise DataError(f"{what}: needs either per-candle columns date, long_usd, short_usd or per-event columns "
                        f"date, side ('long'/'short'), usd; got {list(actual.columns)}.")
    if actual.empty:
        raise DataError(f"{what}: the file has no rows.")
    when = _dates_ns(actual["date"], what)
    if n == 0:
        raise DataError(f"{what}: there are no candles to compare with.")
    first, last = pd.Timestamp(when.min(), tz="UTC"), pd.Timestamp(when.max(), tz="UTC")
    data_span = f"candles cover {pd.Timestamp(dates[0], tz='UTC')} .. {pd.Timestamp(dates[-1] + tf, tz='UTC')}"

    if kind == "totals":
        long_usd = _usd(actual, "long_usd", what)
        short_usd = _usd(actual, "short_usd", what)
        uniq = np.unique(when)
        step = int(np.diff(uniq).min()) if len(uniq) > 1 else tf
        if len(uniq) != len(when):
            raise DataError(f"{what}: per-candle totals have duplicate dates; sum them per date first.")
        if step > tf or tf % step:
            raise DataError(f"{what}: rows are {pd.Timedelta(step)} apart but the timeframe is {timeframe}: the file's "
                            "rows cannot be split into candles; use a timeframe that is a multiple of the rows' "
                            "spacing, or give per-event records.")
        if np.any(when % step):
            raise DataError(f"{what}: row dates are not aligned to their {pd.Timedelta(step)} spacing (first: "
                            f"{pd.Timestamp(when[np.argmax(when % step != 0)], tz='UTC')}); dates must be row open "
                            "times in UTC.")
        pos = np.searchsorted(dates, when, side="right") - 1
        inside = (pos >= 0) & (when < dates[np.maximum(pos, 0)] + tf)
        if not inside.any():
            raise DataError(f"{what}: dates {first} .. {last} lie outside the data ({data_span}).")
        pos = pos[inside]
        # A candle counts only if every row it consists of is present (a partial sum is not the actual).
        rows_per_candle = tf // step
        count = np.bincount(pos, minlength=n)
        full = count == rows_per_candle
        out[:, 0] = np.where(full, np.bincount(pos, weights=long_usd[inside], minlength=n), np.nan)
        out[:, 1] = np.where(full, np.bincount(pos, weights=short_usd[inside], minlength=n), np.nan)
    else:
        usd = _usd(actual, "usd", what)
        side = actual["side"].astype(str).str.lower().to_numpy()
        bad = ~np.isin(side, SIDES)
        if bad.any():
            raise DataError(f"{what}: 'side' must be 'long' or 'short' (the liquidated position's side); got "
                            f"{sorted(set(side[bad]))[:5]}.")
        pos = np.searchsorted(dates, when, side="right") - 1
        inside = (pos >= 0) & (when < dates[np.maximum(pos, 0)] + tf)
        if not inside.any():
            raise DataError(f"{what}: events {first} .. {last} lie outside the data ({data_span}).")
        if span_ms is not None:  # candles wholly inside the recorded span
            covered = (dates >= span_ms[0] * _MS) & (dates + tf <= span_ms[1] * _MS)
        else:  # candles that overlap [first event, last event]
            covered = (dates + tf > when.min()) & (dates <= when.max())
        for s, name in enumerate(SIDES):
            sel = inside & (side == name)
            total = np.bincount(pos[sel], weights=usd[sel], minlength=n)
            out[:, s] = np.where(covered, total, np.nan)
    return pd.DataFrame({"long_usd": out[:, 0], "short_usd": out[:, 1]})


def oi_at_open(candle_dates, open_interest: pd.DataFrame | None, timeframe: str) -> np.ndarray:
    """OI in USD known at each candle's open (NaN if unknown).

    An OI row stamped D of spacing tf_oi is known at D + tf_oi (freqtrade's candle
    rule, the same as the engine's). ``open_interest_value`` (quote) is used.
    """
    dates = pd.DatetimeIndex(pd.to_datetime(candle_dates, utc=True)).as_unit("ns").asi8
    if open_interest is None or open_interest.empty or "open_interest_value" not in open_interest.columns:
        return np.full(len(dates), np.nan)
    oi_dates = pd.DatetimeIndex(pd.to_datetime(open_interest["date"], utc=True)).as_unit("ns").asi8
    values = pd.to_numeric(open_interest["open_interest_value"], errors="coerce").to_numpy(dtype=np.float64)
    order = np.argsort(oi_dates, kind="stable")
    oi_dates, values = oi_dates[order], values[order]
    ok = np.isfinite(values) & (values > 0)
    step = int(np.median(np.diff(oi_dates))) if len(oi_dates) > 1 else timeframe_to_ns(timeframe)
    avail, values = oi_dates[ok] + step, values[ok]
    idx = np.searchsorted(avail, dates, side="right") - 1
    return np.where(idx >= 0, values[np.maximum(idx, 0)] if len(values) else np.nan, np.nan)


def baselines(ohlcv: pd.DataFrame, oi_open_usd: np.ndarray | None = None) -> dict[str, pd.DataFrame]:
    """Map-free baselines per side, one column per baseline (see the module docstring).

    :param ohlcv: candles with open, high, low, close (quote currency).
    :param oi_open_usd: OI in USD known at each candle's open; without it ``wick_oi`` is
        the bare wick (a constant OI does not change ranks).
    """
    o, h, lo, c = (ohlcv[k].to_numpy(dtype=np.float64) for k in ("open", "high", "low", "close"))
    oi = np.ones(len(o)) if oi_open_usd is None else np.asarray(oi_open_usd, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        down = np.clip((o - lo) / o, 0.0, None)
        up = np.clip((h - o) / o, 0.0, None)
        rng = (h - lo) / o
        ret = np.abs(c / o - 1.0)
    return {
        "long": pd.DataFrame({"wick_oi": down * oi, "range": rng, "abs_return": ret}),
        "short": pd.DataFrame({"wick_oi": up * oi, "range": rng, "abs_return": ret}),
    }
