"""Real market data into a freqtrade datadir, and what a backtest on it did in cascade candles.

* ``pair_from_filename`` reads the pair from ``BTC_1h_coinalyze_….csv`` or
  ``BTC_USDT_USDT-5m-futures.feather``;
* ``store_candle_csv`` writes one per-candle CSV (``read_candle_csv``: OHLCV, OI, actual
  liquidations) as freqtrade ``futures`` and ``open_interest`` files, with freqtrade's own
  data handler, and returns the frames it read (the actuals are for scoring, never written);
* ``copy_freqtrade_files`` copies files already in freqtrade's format into a datadir;
* ``read_trades`` reads the per-trade list of a ``backtesting --export trades`` result;
* ``cascade_candles`` and ``stop_outs`` count stop-loss exits inside the candles with the
  most actual liquidations.

Time alignment of the OI written here: a per-candle CSV's OI column is the OI at the
candle's *close* (``read_candle_csv``). It is stored as the ``open_interest`` row stamped
with the candle's open date D, at the candles' timeframe. freqtrade and the engine read an
OI row stamped D as known at D + timeframe (``liqrisk.core.align``), which is exactly when
that OI was observed: no lookahead and no lag. (Binance's own OI rows are snapshots at D,
so there the same rule lags by one OI candle.)

freqtrade is imported inside the functions that write its files, so this module loads fast.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from liqrisk.tools.demo.data import EXCHANGE
from liqrisk.tools.demo.errors import OfflineError
from liqrisk.tools.demo.freqtrade_run import load_backtest_stats

#: freqtrade exit reasons that are a stop-loss hit.
STOP_EXIT_REASONS = ("stop_loss", "trailing_stop_loss", "stoploss_on_exchange")

_CSV_NAME = re.compile(r"^(?P<base>[A-Z0-9]+)_(?P<tf>\d+[mhdw])_")
_FT_NAME = re.compile(r"^(?P<base>[A-Z0-9]+)_(?P<quote>[A-Z0-9]+)_(?P<settle>[A-Z0-9]+)-(?P<tf>\d+[mhdw])-")


def pair_from_filename(path: Path | str, quote: str = "USDT") -> str:
    """``BTC_1h_coinalyze_2024-06_2024-08.csv`` -> ``BTC/USDT:USDT`` (``quote`` settles);
    ``ETH_USDT_USDT-5m-futures.feather`` -> ``ETH/USDT:USDT``.

    :raises OfflineError: a name in neither layout.
    """
    name = Path(path).name
    if m := _FT_NAME.match(name):
        return f"{m['base']}/{m['quote']}:{m['settle']}"
    if m := _CSV_NAME.match(name):
        return f"{m['base']}/{quote}:{quote}"
    raise OfflineError(f"cannot tell the pair from the file name {name!r}; expected BASE_<tf>_….csv or "
                       "BASE_QUOTE_SETTLE-<tf>-<kind>.feather.")


def futures_dir(datadir: Path | str) -> Path:
    """``<datadir>/binance/futures``: where freqtrade (``--datadir <datadir>/binance``) and the
    local exchange (``--datadir <datadir>``) look for futures files."""
    return Path(datadir) / EXCHANGE / "futures"


def store_candle_csv(path: Path | str, datadir: Path | str, *, pair: str | None = None, data_format: str = "feather"):
    """Write one per-candle CSV into ``datadir`` in freqtrade's format; return its ``CandleFile``.

    Writes ``<pair>-<tf>-futures`` (date, open, high, low, close, volume; volume in base
    coins) and, when the file has OI, ``<pair>-<tf>-open_interest`` (date,
    open_interest_amount in base coins, open_interest_value in USD), both stamped with the
    candle's UTC open date and the OI meaning the OI at that candle's close (see the module
    docstring). No mark or funding file is written: the CSV has neither, and freqtrade's
    backtest runs without them (no funding fees). ``pair`` defaults to the file name's.
    """
    from freqtrade.data.history import get_datahandler
    from freqtrade.enums import CandleType

    from liqrisk.tools.validate.candle_csv import read_candle_csv

    cf = read_candle_csv(path)
    pair = pair or pair_from_filename(path)
    futures_dir(datadir).mkdir(parents=True, exist_ok=True)
    handler = get_datahandler(Path(datadir) / EXCHANGE, data_format)
    ohlcv = cf.ohlcv[["date", "open", "high", "low", "close", "volume"]].copy()
    handler.ohlcv_store(pair, cf.timeframe, ohlcv, candle_type=CandleType.FUTURES)
    if cf.open_interest is not None:
        oi = cf.open_interest[["date", "open_interest_value"]].merge(ohlcv[["date", "close"]], on="date", how="left")
        oi["open_interest_amount"] = oi["open_interest_value"] / oi["close"]
        handler.ohlcv_store(pair, cf.timeframe, oi[["date", "open_interest_amount", "open_interest_value"]],
                            candle_type=CandleType.OPEN_INTEREST)
    return cf


def copy_freqtrade_files(paths: Iterable[Path | str], datadir: Path | str) -> list[Path]:
    """Copy futures files already in freqtrade's layout into ``<datadir>/binance/futures``."""
    target = futures_dir(datadir)
    target.mkdir(parents=True, exist_ok=True)
    out = []
    for p in paths:
        p = Path(p)
        if not p.is_file():
            raise OfflineError(f"{p} is missing.")
        out.append(Path(shutil.copy2(p, target / p.name)))
    return out


def read_trades(path: Path | str) -> dict[str, pd.DataFrame]:
    """Per strategy, the trades of a freqtrade result (``.zip`` or ``.json``): one row per
    trade with ``pair, is_short, open_date, close_date`` (UTC), ``exit_reason``, ``profit_ratio``,
    ``profit_abs``."""
    stats = load_backtest_stats(path)
    cols = ["pair", "is_short", "open_date", "close_date", "exit_reason", "profit_ratio", "profit_abs"]
    out = {}
    for name, s in stats.get("strategy", {}).items():
        trades = pd.DataFrame(s.get("trades", []))
        for c in cols:
            if c not in trades.columns:
                trades[c] = pd.Series(dtype=object)
        trades = trades[cols].copy()
        for c in ("open_date", "close_date"):
            trades[c] = pd.to_datetime(trades[c], utc=True)
        out[name] = trades
    return out


def cascade_candles(actual: pd.DataFrame, quantile: float = 0.99) -> tuple[pd.DatetimeIndex, float]:
    """Open dates of the candles whose actual liquidations (``long_usd + short_usd``) are at or
    above their ``quantile`` over ``actual`` (the top 1% by default), and that threshold in USD."""
    total = (actual["long_usd"] + actual["short_usd"]).to_numpy(np.float64)
    if len(total) == 0:
        return pd.DatetimeIndex([], tz="UTC"), float("nan")
    threshold = float(np.quantile(total, quantile))
    return pd.DatetimeIndex(pd.to_datetime(actual["date"], utc=True)[total >= threshold]), threshold


def stop_outs(trades: pd.DataFrame, timeframe: str, cascades: Mapping[str, pd.DatetimeIndex] | None = None) -> dict:
    """Stop-loss exits of ``trades``, and how many of them exit in a cascade candle.

    The exit candle is ``close_date`` floored to ``timeframe`` (freqtrade's backtest stamps an
    exit with the open date of the candle it happened in). ``cascades``: pair -> cascade
    candle open dates (``cascade_candles``); None gives no cascade count.
    """
    stops = trades[trades["exit_reason"].isin(STOP_EXIT_REASONS)]
    out = {"stop_outs": len(stops), "liquidations": int((trades["exit_reason"] == "liquidation").sum())}
    if cascades is not None:
        freq = pd.Timedelta(timeframe)
        hit = 0
        for pair, rows in stops.groupby("pair"):
            dates = cascades.get(pair)
            if dates is not None and len(dates):
                hit += int(rows["close_date"].dt.floor(freq).isin(dates).sum())
        out["stop_outs_in_cascades"] = hit
    return out


def nearest_cluster_distance(ohlcv: pd.DataFrame, *, open_interest: pd.DataFrame | None = None, pair: str,
                             timeframe: str, window: str = "1d", skip: int = 0) -> dict[str, float]:
    """Median distance from the close to the nearest estimated cluster below and above, as a
    fraction of the close (0.02 = 2 %), over the candles after the first ``skip``.

    The rules only act near a cluster (the sample's stop is 2 % of price, the veto distance
    2 %), so this says whether they can fire at all on the data.
    """
    import liqrisk

    feats = liqrisk.compute_features(ohlcv[["date", "open", "high", "low", "close", "volume"]],
                                     open_interest=open_interest, pair=pair, timeframe=timeframe)
    close = ohlcv["close"].to_numpy(np.float64)[skip:]
    out = {}
    for side in ("below", "above"):
        price = feats[f"liq_{side}_nearest_price_{window}"].to_numpy(np.float64)[skip:]
        dist = np.abs(price / close - 1.0)
        out[side] = float(np.nanmedian(dist)) if np.isfinite(dist).any() else float("nan")
    return out
