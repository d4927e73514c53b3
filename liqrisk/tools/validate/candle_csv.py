"""One CSV with everything per candle: OHLCV, open interest and actual liquidations.

This is how real intraday data usually arrives (Coinglass, Coinalyze and similar
exports): one row per candle, the candle's UTC open time, its prices, its OI and the
USD (or coins) liquidated inside it. ``read_candle_csv`` turns such a file into the
frames the engine and ``validate_frames`` take, without hand conversion.

Columns are found by name (``DEFAULT_NAMES``, first match wins) or given explicitly as
``{"oi": "oi_binance_usd", "long": "long_liq_usd", ...}``. A column's unit comes from
its name (``…usd…`` is USD, ``…coin…`` is base coins) or from a ``:usd`` / ``:coin``
suffix on the mapping (``"oi": "oi_close:coin"``). Coins become USD at the candle's close.

Time alignment (freqtrade's rule: a row stamped D is known at D + timeframe):

* OHLCV row D is candle [D, D + tf).
* The OI column is the OI at the candle's *close* (``oi_usd_close``, ``oi_close_coin``).
  It is passed as an ``open_interest`` frame stamped D, which the engine reads as known
  at D + tf: candle D's OI change is its own, with no lag and no lookahead.
* Liquidation row D is the USD liquidated inside [D, D + tf). A missing value is
  *missing*, not zero.
* Dates are ISO strings or epoch numbers; epoch seconds and milliseconds are told
  apart by size.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from liqrisk.errors import ConfigError, DataError

#: Candidate column names per field, first match wins.
DEFAULT_NAMES: dict[str, tuple[str, ...]] = {
    "date": ("date", "ts_utc", "timestamp", "time", "open_time"),
    "open": ("open",), "high": ("high",), "low": ("low",), "close": ("close",),
    "volume": ("volume", "volume_usd"),
    "taker_buy_volume": ("taker_buy_volume", "taker_buy_usd"),
    "oi": ("oi_usd_close", "oi_close_usd", "oi_close_coin", "oi_coin_close", "open_interest_value",
           "open_interest_amount", "oi_total_close", "oi_usd", "oi_coin"),
    "oi_high": ("oi_usd_high", "oi_high_usd", "oi_high_coin", "oi_coin_high"),
    "oi_low": ("oi_usd_low", "oi_low_usd", "oi_low_coin", "oi_coin_low"),
    "long": ("long_liq_usd", "liq_long_usd", "long_usd", "long_liq_coin", "liq_long_coin"),
    "short": ("short_liq_usd", "liq_short_usd", "short_usd", "short_liq_coin", "liq_short_coin"),
}
REQUIRED = ("date", "open", "high", "low", "close", "volume", "long", "short")
#: Fields whose unit matters (USD or base coins). Names without a unit are read as:
UNIT_DEFAULT = {"volume": "coin", "taker_buy_volume": "coin", "oi": None, "oi_high": None, "oi_low": None,
                "long": "usd", "short": "usd"}
#: Name fragments that give a column's unit.
_UNIT_HINTS = {"open_interest_value": "usd", "open_interest_amount": "coin"}
#: Timeframes freqtrade knows, by length in seconds.
TIMEFRAMES = {60: "1m", 180: "3m", 300: "5m", 900: "15m", 1800: "30m", 3600: "1h", 7200: "2h", 14400: "4h",
              21600: "6h", 28800: "8h", 43200: "12h", 86400: "1d", 259200: "3d", 604800: "1w"}


@dataclass
class CandleFile:
    """Frames read from one per-candle CSV (see the module docstring).

    ``ohlcv``: ``date, open, high, low, close, volume`` (+ ``taker_buy_volume``), volume in
    base coins. ``open_interest``: ``date, open_interest_value`` (USD at the candle's close,
    + ``open_interest_high, open_interest_low`` (USD) when the file has them), or None. ``actual``: ``date,
    long_usd, short_usd``. ``columns``: field -> (column, unit) as read.
    """

    path: Path
    timeframe: str
    ohlcv: pd.DataFrame
    open_interest: pd.DataFrame | None
    actual: pd.DataFrame
    columns: dict[str, tuple[str, str | None]]


def parse_column_map(items: list[str] | None) -> dict[str, str]:
    """``["oi=oi_binance_usd", "long=long_liq_coin:coin"]`` -> a mapping.

    :raises ConfigError: an item without ``=`` or naming an unknown field.
    """
    out: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not value:
            raise ConfigError(f"column mapping {item!r} must look like field=column (e.g. oi=oi_binance_usd).")
        if key not in DEFAULT_NAMES:
            raise ConfigError(f"column mapping {item!r}: unknown field {key!r}; fields: {sorted(DEFAULT_NAMES)}.")
        out[key] = value
    return out


def _unit(field: str, column: str, explicit: str | None) -> str | None:
    if explicit is not None:
        if explicit not in ("usd", "coin"):
            raise ConfigError(f"column mapping {field}={column}:{explicit}: the unit must be 'usd' or 'coin'.")
        return explicit
    if field not in UNIT_DEFAULT:
        return None
    name = column.lower()
    if name in _UNIT_HINTS:
        return _UNIT_HINTS[name]
    if "usd" in name:
        return "usd"
    if "coin" in name or "amount" in name:
        return "coin"
    if UNIT_DEFAULT[field] is None:
        raise ConfigError(f"{field} column {column!r}: its name does not say USD or coins; map it with a unit, "
                          f"e.g. {field}={column}:usd.")
    return UNIT_DEFAULT[field]


def _resolve(frame: pd.DataFrame, path: Path, mapping: Mapping[str, str]) -> dict[str, tuple[str, str | None]]:
    found: dict[str, tuple[str, str | None]] = {}
    for field, candidates in DEFAULT_NAMES.items():
        explicit_unit = None
        if field in mapping:
            column, _, explicit_unit = mapping[field].partition(":")
            if column not in frame.columns:
                raise DataError(f"{path}: mapped column {field}={column!r} is not in the file; columns: "
                                f"{list(frame.columns)}.")
        else:
            column = next((c for c in candidates if c in frame.columns), None)
            if column is None:
                if field in REQUIRED:
                    raise DataError(f"{path}: no {field} column (looked for {list(candidates)}); columns: "
                                    f"{list(frame.columns)}. Name it with a column mapping, e.g. {field}=<column>.")
                continue
        found[field] = (column, _unit(field, column, explicit_unit or None))
    return found


def _dates(values: pd.Series, path: Path) -> pd.DatetimeIndex:
    """ISO strings, or epoch numbers: seconds below 1e11, milliseconds below 1e14."""
    if pd.api.types.is_numeric_dtype(values):
        v = pd.to_numeric(values)
        if v.isna().any():
            raise DataError(f"{path}: the date column has missing values.")
        top = float(v.abs().max())
        unit = "s" if top < 1e11 else "ms" if top < 1e14 else None
        if unit is None:
            raise DataError(f"{path}: epoch dates up to {top:.0f} are neither seconds nor milliseconds; "
                            "convert them to ISO dates or epoch milliseconds.")
        return pd.DatetimeIndex(pd.to_datetime(v.astype(np.int64), unit=unit, utc=True)).as_unit("ns")
    try:
        return pd.DatetimeIndex(pd.to_datetime(values, utc=True)).as_unit("ns")
    except (TypeError, ValueError) as e:
        raise DataError(f"{path}: the date column cannot be read as UTC dates ({e}).") from e


def infer_timeframe(dates: pd.DatetimeIndex, what: str) -> str:
    """The freqtrade timeframe of the most common spacing of ``dates``.

    :raises DataError: fewer than two candles, or a spacing freqtrade does not know.
    """
    if len(dates) < 2:
        raise DataError(f"{what}: fewer than two candles.")
    step = pd.Series(np.diff(dates.as_unit("s").asi8)).mode().iloc[0]
    if int(step) not in TIMEFRAMES:
        raise DataError(f"{what}: candles are {int(step)} s apart, which is no freqtrade timeframe "
                        f"({', '.join(TIMEFRAMES.values())}).")
    return TIMEFRAMES[int(step)]


def _numbers(frame: pd.DataFrame, column: str, path: Path) -> np.ndarray:
    try:
        return pd.to_numeric(frame[column], errors="raise").to_numpy(np.float64)
    except (TypeError, ValueError) as e:
        raise DataError(f"{path}: column {column!r} is not numeric ({e}).") from e


def read_candle_csv(path: str | Path, *, columns: Mapping[str, str] | None = None) -> CandleFile:
    """Read one per-candle CSV into engine frames (see the module docstring).

    Rows are sorted by date; duplicate dates keep the last row. OHLCV rows with a
    missing or non-positive price are dropped (and with them their actuals).

    :raises DataError: unreadable file, missing required column, bad dates or timeframe.
    :raises ConfigError: a bad column mapping.
    """
    path = Path(path)
    try:
        raw = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: the file is empty.") from None
    except (OSError, ValueError, pd.errors.ParserError) as e:
        raise DataError(f"{path}: cannot read it as CSV ({e}).") from e
    if raw.empty:
        raise DataError(f"{path}: the file has no rows.")
    cols = _resolve(raw, path, columns or {})
    dates = _dates(raw[cols["date"][0]], path)
    frame = raw.assign(_date=dates).sort_values("_date").drop_duplicates("_date", keep="last")
    prices = {k: _numbers(frame, cols[k][0], path) for k in ("open", "high", "low", "close")}
    ok = np.all([np.isfinite(v) & (v > 0) for v in prices.values()], axis=0)
    frame = frame[ok]
    prices = {k: v[ok] for k, v in prices.items()}
    close = prices["close"]
    date = pd.DatetimeIndex(frame["_date"])
    timeframe = infer_timeframe(date, str(path))

    def values(field: str) -> np.ndarray:
        column, unit = cols[field]
        v = _numbers(frame, column, path)
        return v * close if unit == "coin" and field not in ("volume", "taker_buy_volume") else (
            v / close if unit == "usd" and field in ("volume", "taker_buy_volume") else v)

    ohlcv = pd.DataFrame({"date": date, **prices, "volume": values("volume")})
    if "taker_buy_volume" in cols:
        ohlcv["taker_buy_volume"] = values("taker_buy_volume")
    open_interest = None
    if "oi" in cols:
        oi = pd.DataFrame({"date": date, "open_interest_value": values("oi")})
        for field, name in (("oi_high", "open_interest_high"), ("oi_low", "open_interest_low")):
            if field in cols:
                oi[name] = values(field)
        oi = oi[np.isfinite(oi["open_interest_value"]) & (oi["open_interest_value"] > 0)]
        open_interest = oi.reset_index(drop=True) if len(oi) else None
    actual = pd.DataFrame({"date": date, "long_usd": values("long"), "short_usd": values("short")})
    actual = actual[np.isfinite(actual[["long_usd", "short_usd"]]).all(axis=1)].reset_index(drop=True)
    return CandleFile(path=path, timeframe=timeframe, ohlcv=ohlcv.reset_index(drop=True),
                      open_interest=open_interest, actual=actual, columns=cols)
