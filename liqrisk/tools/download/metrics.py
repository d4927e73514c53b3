"""Binance archive ``metrics`` CSVs -> snapshots -> freqtrade ``open_interest`` candles.

The CSV (one per day and symbol, header row) has, per 5-minute snapshot:

* ``create_time``: the snapshot time, UTC, ``YYYY-MM-DD HH:MM:SS``;
* ``sum_open_interest``: open interest in base units (contracts of a USD-M perpetual);
* ``sum_open_interest_value``: the same in USD (quote currency);
* ``count_toptrader_long_short_ratio``: top traders' long/short *account* ratio;
* ``sum_toptrader_long_short_ratio``: top traders' long/short *position* ratio;
* ``count_long_short_ratio``: all accounts' long/short ratio;
* ``sum_taker_long_short_vol_ratio``: taker buy volume / taker sell volume over the 5 minutes.

These are the archive's copies of the REST statistics ``openInterestHist``,
``topLongShortAccountRatio``, ``topLongShortPositionRatio``, ``globalLongShortAccountRatio`` and
``takerlongshortRatio``. Files seen in the wild start at 00:00 or at 00:05, repeat a stamp now
and then and leave ratio fields empty; all of that is accepted.

**Stamps (no lookahead).** A snapshot taken at ``create_time`` T goes to the row stamped with
the 5-minute slot holding T (T itself on the usual round times): freqtrade's Binance OI row D
is the ``openInterestHist`` snapshot at D, and ``liqrisk.core.align`` uses a row stamped D
from D + timeframe on, after the snapshot was taken. A coarser timeframe keeps the snapshot
*at* each of its candle opens (row 12:00 of 1h = the 12:00 snapshot), which is what
``openInterestHist`` with that period returns and what ``freqtrade download-data`` stores, so
rows from either source mean the same thing in one file. (The last snapshot inside the candle,
11:55 for the 11:00 row, would also be free of lookahead, but the file would then change
meaning where the archive's rows meet the API's.) A missing snapshot stays missing.
The long/short statistics are dated when they are known instead (``ratio_rows``).
"""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pandas as pd

from liqrisk._util import timeframe_to_ns
from liqrisk.errors import ConfigError

ARCHIVE_COLUMNS = (
    "create_time", "symbol", "sum_open_interest", "sum_open_interest_value",
    "count_toptrader_long_short_ratio", "sum_toptrader_long_short_ratio", "count_long_short_ratio",
    "sum_taker_long_short_vol_ratio",
)
#: The statistics kept beside the OI candles (``<PAIR>-5m-oi_metrics`` file), archive names.
RATIO_COLUMNS = ARCHIVE_COLUMNS[4:]
OI_COLUMNS = ("date", "open_interest_amount", "open_interest_value")
SNAPSHOT_MS = 300_000
DAY_MS = 86_400_000


class BadMetrics(ValueError):
    """A metrics zip or CSV that cannot be read; the message says why."""


def timeframe_ms(timeframe: str) -> int:
    """Milliseconds of an OI timeframe the archive can give: a multiple of 5m dividing a day."""
    ms = timeframe_to_ns(timeframe, key="timeframes") // 1_000_000
    if ms % SNAPSHOT_MS or DAY_MS % ms:
        raise ConfigError(f"--timeframes {timeframe!r}: the archive has 5-minute snapshots, so an OI "
                          "timeframe must be a multiple of 5m that divides a day (5m, 15m, 30m, 1h, 4h, 1d...).")
    return ms


def _csv_text(data: bytes) -> str:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            names = [n for n in zf.namelist() if n.lower().endswith(".csv")]
            if not names:
                raise BadMetrics("the zip holds no CSV")
            return zf.read(names[0]).decode("utf-8-sig")
    except (zipfile.BadZipFile, EOFError, OSError, UnicodeDecodeError) as e:
        raise BadMetrics(f"unreadable zip: {e}") from e


def _create_time_ms(values: pd.Series) -> np.ndarray:
    """Epoch ms (int64) of ``create_time``; -1 where it cannot be read. Text stamps are UTC;
    numeric ones are epoch ms (µs when above 1e14)."""
    text = values.astype(str).str.strip()
    numeric = pd.to_numeric(text, errors="coerce")
    if numeric.notna().all():
        ms = numeric.to_numpy(dtype=np.float64)
        ms = np.where(ms > 1e14, ms / 1000.0, ms)
        return ms.astype(np.int64)
    ts = pd.to_datetime(text, utc=True, format="%Y-%m-%d %H:%M:%S", errors="coerce")
    ok = ts.notna().to_numpy()
    out = np.full(len(text), -1, dtype=np.int64)
    out[ok] = ts[ok].dt.as_unit("ms").astype("int64").to_numpy()
    return out


def _float(text: str) -> float:
    """Python's float(): the exact double the archive's decimal names (pandas' fast parser
    may land one ulp off). Empty or unreadable fields are NaN."""
    try:
        return float(text) if text and text.strip() else np.nan
    except ValueError:
        return np.nan


def read_metrics(data: bytes, symbol: str | None = None) -> pd.DataFrame:
    """One archive zip -> its snapshots: ``slot_ms`` (int64, the 5-minute slot of the snapshot,
    epoch ms UTC), ``create_ms``, ``open_interest_amount``, ``open_interest_value`` and the
    ``RATIO_COLUMNS`` (float64, NaN where empty). Rows of another symbol are dropped.

    :raises BadMetrics: the zip or its CSV cannot be read.
    """
    text = _csv_text(data)
    first = text.lstrip().split("\n", 1)[0]
    has_header = first.split(",", 1)[0].strip().lower() == "create_time"
    try:
        df = pd.read_csv(io.StringIO(text), header=0 if has_header else None,
                         names=None if has_header else list(ARCHIVE_COLUMNS), dtype=str,
                         keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as e:
        raise BadMetrics(f"unreadable CSV: {e}") from e
    df.columns = [str(c).strip().lower() for c in df.columns]
    for col in ("create_time", "sum_open_interest", "sum_open_interest_value"):
        if col not in df.columns:
            raise BadMetrics(f"the CSV has no {col!r} column (columns: {list(df.columns)})")
    if symbol is not None and "symbol" in df.columns:
        df = df[df["symbol"].str.strip().isin(["", symbol])]
    create = _create_time_ms(df["create_time"]) if len(df) else np.zeros(0, np.int64)

    def number(col: str) -> np.ndarray:
        if col not in df.columns:
            return np.full(len(df), np.nan)
        return np.array([_float(v) for v in df[col].tolist()], dtype=np.float64)

    out = pd.DataFrame({
        "slot_ms": create // SNAPSHOT_MS * SNAPSHOT_MS,
        "create_ms": create,
        "open_interest_amount": number("sum_open_interest"),
        "open_interest_value": number("sum_open_interest_value"),
        **{c: number(c) for c in RATIO_COLUMNS},
    })
    return out[out["create_ms"] >= 0].reset_index(drop=True)


def combine(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """Snapshots of several days as one frame sorted by slot; a slot seen twice keeps the
    latest snapshot in it."""
    if not parts:
        return read_metrics_empty()
    snap = pd.concat(parts, ignore_index=True).sort_values(["slot_ms", "create_ms"], kind="stable")
    return snap.drop_duplicates("slot_ms", keep="last").reset_index(drop=True)


def read_metrics_empty() -> pd.DataFrame:
    cols = {"slot_ms": np.zeros(0, np.int64), "create_ms": np.zeros(0, np.int64)}
    cols.update({c: np.zeros(0) for c in ("open_interest_amount", "open_interest_value", *RATIO_COLUMNS)})
    return pd.DataFrame(cols)


def utc_dates(ms: np.ndarray) -> pd.Series:
    """Epoch ms -> tz-aware UTC dates at ms resolution (freqtrade's stored ``date``)."""
    return pd.Series(pd.DatetimeIndex(np.asarray(ms, dtype="datetime64[ms]")).tz_localize("UTC"))


def oi_candles(snap: pd.DataFrame, timeframe: str) -> pd.DataFrame:
    """freqtrade ``open_interest`` rows (``date, open_interest_amount, open_interest_value``) at
    ``timeframe``: the snapshot at each candle open (see the module docstring); rows without
    either value are gaps, not rows."""
    ms = timeframe_ms(timeframe)
    slot = snap["slot_ms"].to_numpy(dtype=np.int64)
    amount = snap["open_interest_amount"].to_numpy(dtype=np.float64)
    value = snap["open_interest_value"].to_numpy(dtype=np.float64)
    keep = (slot % ms == 0) & (np.isfinite(amount) | np.isfinite(value))
    return pd.DataFrame({"date": utc_dates(slot[keep]), "open_interest_amount": amount[keep],
                         "open_interest_value": value[keep]})


def ratio_rows(snap: pd.DataFrame) -> pd.DataFrame:
    """The 5m ``date`` + ``RATIO_COLUMNS`` rows with at least one value.

    ``date`` is when the row is known: ``create_time`` rounded *up* to the 5-minute grid.
    On the archive's usual round times that is ``create_time`` itself, the OI rows' stamp;
    a snapshot taken at 12:05:07 is dated 12:10, never before it was taken. The taker ratio
    of row D covers [D − 5m, D) (``liqrisk.core.taker``). Two snapshots rounding to one
    date keep the later."""
    values = snap[list(RATIO_COLUMNS)]
    keep = values.notna().any(axis=1).to_numpy()
    out = values[keep].reset_index(drop=True)
    create = snap["create_ms"].to_numpy(dtype=np.int64)[keep]
    out.insert(0, "date", utc_dates(-(-create // SNAPSHOT_MS) * SNAPSHOT_MS))
    return out.drop_duplicates("date", keep="last").reset_index(drop=True)
