"""The daily real-data set: a Coinglass-style daily export, one folder of CSVs, 7 coins.

Daily Binance perpetual OHLCV, open interest aggregated over exchanges (USD), funding
(percent per 8h) and actual long / short liquidations summed over exchanges (USD).
The files are not part of liqrisk (see ``../shared/README.md``).

Time alignment of the daily rows (all ``ts_utc`` are the day's UTC open, D):

* OHLCV row D is the candle [D, D+1d), known at D+1d.
* OI row D is the *close* of day D, the OI at D+1d. Passed as an ``open_interest``
  frame, the engine treats it as known at D+1d (freqtrade's candle rule), so candle D's
  OI change is ``OI_close(D) − OI_close(D−1)``: the change during day D, no lag and no
  lookahead.
* Funding row D is the day's last rate (percent per 8h); divided by 100 and used at
  D+1d, the close of candle D.
* Liquidation row D is the USD liquidated during [D, D+1d): candle D's actual."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from liqrisk.errors import DataError

COINS = ("ADA", "BNB", "BTC", "DOGE", "ETH", "SOL", "XRP")
#: Liquidation series are zero padding before this day.
LIQUIDATIONS_START = pd.Timestamp("2020-12-23", tz="UTC")
#: Fit on 2021–2023, test on 2024 on.
TRAIN = (pd.Timestamp("2021-01-01", tz="UTC"), pd.Timestamp("2024-01-01", tz="UTC"))
TEST = (pd.Timestamp("2024-01-01", tz="UTC"), pd.Timestamp("2100-01-01", tz="UTC"))
DAILY_FILES = {
    "ohlcv": "futures_ohlcv_1d.csv", "oi": "futures_oi_agg_1d.csv", "liq": "liquidation_agg_1d.csv",
    "funding": "funding_oi_weight_1d.csv",
}


@dataclass
class DailyMarket:
    """One coin's daily frames in freqtrade's columns, padding removed.

    ``actual``: ``date, long_usd, short_usd`` from ``LIQUIDATIONS_START`` on (USD).
    """

    coin: str
    pair: str
    ohlcv: pd.DataFrame
    open_interest: pd.DataFrame
    funding_rate: pd.DataFrame
    actual: pd.DataFrame


#: Columns each daily file must have; the numeric ones are read as numbers (blank: NaN).
DAILY_COLUMNS = {
    "ohlcv": ("ts_utc", "symbol", "open", "high", "low", "close", "volume_usd"),
    "oi": ("ts_utc", "symbol", "oi_total_close"),
    "liq": ("ts_utc", "symbol", "liq_long_usd", "liq_short_usd"),
    "funding": ("ts_utc", "symbol", "funding_close"),
}


def _read(root: Path, key: str) -> pd.DataFrame:
    """One daily file with its ``DAILY_COLUMNS``, numbers as float and ``date`` (UTC).

    :raises DataError: the file is missing, empty, not CSV, lacks a column, or has dates
        or numbers that cannot be read; the message names the file and the column.
    """
    path = root / DAILY_FILES[key]
    if not path.is_file():
        raise DataError(f"data folder {root}: missing {DAILY_FILES[key]}; expected the daily files "
                        f"{sorted(DAILY_FILES.values())}.")
    try:
        frame = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: the file is empty; expected a header with {list(DAILY_COLUMNS[key])}.") from None
    except (pd.errors.ParserError, UnicodeDecodeError, OSError) as e:
        raise DataError(f"{path}: cannot read it as CSV ({e}).") from e
    missing = [c for c in DAILY_COLUMNS[key] if c not in frame.columns]
    if missing:
        raise DataError(f"{path}: no column {', '.join(repr(c) for c in missing)}; columns: {list(frame.columns)}.")
    if frame.empty:
        raise DataError(f"{path}: the file has a header but no rows.")
    for col in DAILY_COLUMNS[key][2:]:
        values = pd.to_numeric(frame[col], errors="coerce")
        bad = values.isna() & frame[col].notna()
        if bad.any():
            raise DataError(f"{path}: column {col!r} is not numeric (row {int(bad.idxmax()) + 2}: "
                            f"{frame[col][bad].iloc[0]!r}).")
        frame[col] = values
    try:
        frame["date"] = pd.to_datetime(frame["ts_utc"], utc=True)
    except (ValueError, TypeError) as e:
        raise DataError(f"{path}: column 'ts_utc' cannot be read as UTC dates ({e}).") from e
    return frame


def load_daily_markets(root: str | Path, coins: Iterable[str] = COINS) -> dict[str, DailyMarket]:
    """Read the daily export under ``root`` (see ``DAILY_FILES``) per coin.

    Rows before a series starts are padding (zeros or empty), not data: OHLCV rows need
    positive prices and volume, OI rows a positive ``oi_total_close``; each coin's frames
    start at its first OI row, so the engine never falls back to the volume proxy.
    """
    root = Path(root)
    ohlcv, oi, liq, fund = (_read(root, k) for k in ("ohlcv", "oi", "liq", "funding"))
    out = {}
    for coin in coins:
        o = ohlcv[ohlcv["symbol"] == f"{coin}USDT"]
        o = o[(o[["open", "high", "low", "close"]] > 0).all(axis=1) & (o["volume_usd"] > 0)]
        i = oi[(oi["symbol"] == coin) & (pd.to_numeric(oi["oi_total_close"], errors="coerce") > 0)]
        if o.empty or i.empty:
            raise DataError(f"data folder {root}: no OHLCV or OI rows for {coin}.")
        first = max(o["date"].min(), i["date"].min())
        o = o[o["date"] >= first]
        f = fund[(fund["symbol"] == coin) & fund["funding_close"].notna() & (fund["date"] >= first)]
        lq = liq[(liq["symbol"] == coin) & (liq["date"] >= LIQUIDATIONS_START)]
        out[coin] = DailyMarket(
            coin=coin, pair=f"{coin}/USDT:USDT",
            ohlcv=pd.DataFrame({"date": o["date"].to_numpy(), **{k: o[k].to_numpy(float) for k in
                                                                 ("open", "high", "low", "close")},
                                "volume": (o["volume_usd"] / o["close"]).to_numpy(float)}),
            open_interest=pd.DataFrame({"date": i["date"].to_numpy(),
                                        "open_interest_value": i["oi_total_close"].to_numpy(float)}),
            # percent per 8h -> fraction per 8h
            funding_rate=pd.DataFrame({"date": f["date"].to_numpy(),
                                       "funding_rate": f["funding_close"].to_numpy(float) / 100.0}),
            actual=pd.DataFrame({"date": lq["date"].to_numpy(), "long_usd": lq["liq_long_usd"].to_numpy(float),
                                 "short_usd": lq["liq_short_usd"].to_numpy(float)}),
        )
    return out
