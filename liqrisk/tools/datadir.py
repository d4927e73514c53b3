"""Read one pair's futures data from a freqtrade datadir, with freqtrade's own data handlers.

This is tool code (for ``liqrisk heatmap``, ``map``, ``validate``), not the core: it
imports freqtrade lazily. Layout, as freqtrade writes it:
``<datadir>/futures/<BASE>_<QUOTE>_<SETTLE>-<tf>-<candle type>.feather`` where
``<datadir>`` is the config's ``datadir`` or ``user_data/data/<exchange>``.
"""

from __future__ import annotations

import json
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from liqrisk._util import timeframe_to_ns
from liqrisk.errors import ConfigError, DataError

#: An exchange folder name: freqtrade's exchange ids (binance, bybit, gate, okx...).
EXCHANGE_RE = re.compile(r"^[a-z0-9_]{1,40}$")
#: A ccxt futures symbol BASE/QUOTE:SETTLE, the only kind of pair the tools read or write.
PAIR_RE = re.compile(r"^[A-Z0-9]{1,20}/[A-Z0-9]{1,10}:[A-Z0-9]{1,10}$")


def check_exchange_name(name: str) -> str:
    """``name`` when it is a plain exchange id; ConfigError otherwise.

    Exchange names become folder names (``<datadir>/<exchange>/futures``): anything but
    ``[a-z0-9_]`` could leave the datadir (``../../x``) or name a different folder."""
    if not isinstance(name, str) or not EXCHANGE_RE.match(name):
        raise ConfigError(f"exchange {name!r} is not an exchange id; use lower-case letters, digits and _ "
                          "(e.g. binance, bybit).")
    return name


def check_pair_name(pair: str) -> str:
    """``pair`` when it is a ccxt futures symbol ``BASE/QUOTE:SETTLE``; ConfigError otherwise.

    Pairs become file names (``BTC_USDT_USDT-5m-futures.feather``), so they are held to
    upper-case letters and digits around the ``/`` and ``:``."""
    if not isinstance(pair, str) or not PAIR_RE.match(pair):
        raise ConfigError(f"pair {pair!r} is not a ccxt futures symbol; use BASE/QUOTE:SETTLE with upper-case "
                          "letters and digits, e.g. BTC/USDT:USDT.")
    return pair


@dataclass
class MarketData:
    """Frames in freqtrade's columns; None where the datadir has no such file."""

    pair: str
    timeframe: str
    datadir: Path
    ohlcv: pd.DataFrame
    open_interest: pd.DataFrame | None
    funding_rate: pd.DataFrame | None
    mark: pd.DataFrame | None
    #: Exchanges whose OI ``open_interest`` sums (the ``oi_sources`` setting); () = own only.
    oi_sources: tuple[str, ...] = ()
    #: Candles whose ``taker_buy_volume`` came from the archive's taker ratio (oi_metrics file).
    taker_candles: int = 0

    def engine_inputs(self) -> dict:
        """Keyword arguments for ``compute_features`` / ``liquidation_heatmap``."""
        return {"open_interest": self.open_interest, "funding_rate": self.funding_rate, "mark": self.mark,
                "pair": self.pair, "timeframe": self.timeframe}


def read_config(path: str | Path) -> dict:
    """A freqtrade config file as a dict (freqtrade's loader accepts comments)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path}: no such file.")
    try:
        from freqtrade.configuration.load_config import load_config_file

        return load_config_file(str(path))
    except ImportError:  # pragma: no cover - freqtrade is a dependency
        return json.loads(path.read_text())
    except Exception as e:  # freqtrade raises OperationalException for bad JSON
        raise ConfigError(f"config file {path}: {e}") from e


def resolve_datadir(config: str | Path | None = None, datadir: str | Path | None = None) -> Path:
    """freqtrade's rule: ``--datadir``, else the config's ``datadir``, else
    ``<user_data_dir or user_data>/data/<exchange.name>``. A ``--datadir`` without the
    exchange folder (e.g. ``user_data/data``) is accepted when ``binance/`` is inside it."""
    cfg = read_config(config) if config else {}
    section = cfg.get("exchange") or {}
    if not isinstance(section, dict):
        raise ConfigError(f"config file {config}: 'exchange' must be a JSON object, got {type(section).__name__}.")
    exchange = section.get("name", "binance")
    try:
        check_exchange_name(exchange)
    except ConfigError as e:
        raise ConfigError(f"config file {config}: exchange.name: {e}") from None
    if datadir is None:
        datadir = cfg.get("datadir") or Path(cfg.get("user_data_dir", "user_data")) / "data" / exchange
    path = Path(datadir)
    if not (path / "futures").is_dir() and (path / exchange / "futures").is_dir():
        path = path / exchange
    return path


_FROM_CONFIG = object()


def load_market(
    pair: str, timeframe: str, *, config: str | Path | None = None, datadir: str | Path | None = None,
    timerange: str | None = None, startup_candles: int = 0, funding_timeframe: str = "1h",
    oi_sources=_FROM_CONFIG, taker=_FROM_CONFIG,
) -> MarketData:
    """Load futures OHLCV, and open_interest, funding_rate and mark candles when present.

    :param timerange: freqtrade syntax, e.g. ``"20250101-20250201"``; history of
        ``startup_candles`` before its start is loaded too (as freqtrade does).
    :param oi_sources: exchanges whose OI is summed (``liqrisk.core.oi_sources``), each read
        from its folder beside this datadir (``<datadir>/../bybit``); None = this exchange
        only; default: the config file's ``liqrisk.oi_sources``.
    :param taker: add ``taker_buy_volume`` from the archive's taker ratio when the pair's
        ``liqrisk_oi_metrics`` file is there (``liqrisk.core.taker``); default: the config
        file's ``liqrisk.use_archive_taker`` (true unless set).
    :raises DataError: no futures candles for the pair in the datadir / timerange.
    """
    from freqtrade.configuration import TimeRange
    from freqtrade.data.history import load_pair_history
    from freqtrade.enums import CandleType

    check_pair_name(pair)
    path = resolve_datadir(config, datadir)
    try:
        tr = TimeRange.parse_timerange(timerange) if timerange else None
    except Exception as e:
        raise ConfigError(f"timerange {timerange!r}: {e}") from e
    # freqtrade logs a traceback and returns "no data" for a file it cannot read; say which and why.
    for candle_type, tf in ((CandleType.FUTURES, timeframe), (CandleType.OPEN_INTEREST, timeframe),
                            (CandleType.FUNDING_RATE, funding_timeframe), (CandleType.MARK, timeframe)):
        check_readable(candle_file(path, pair, tf, candle_type))
    candles = candle_file(path, pair, timeframe, CandleType.FUTURES)
    if tr is not None and candles.is_file():
        _check_timerange_overlaps(tr, timerange, candles, pair, timeframe)

    def load(candle_type, tf, startup=startup_candles):
        with warnings.catch_warnings():
            # freqtrade 2026.9 calls reset_index(inplace=True), which pandas 3.1 flags;
            # harmless, and not ours to fix.
            warnings.filterwarnings("ignore", "The inplace keyword", category=getattr(pd.errors, "Pandas4Warning", FutureWarning))
            df = load_pair_history(pair, tf, path, timerange=tr, candle_type=candle_type, startup_candles=startup,
                                   fill_up_missing=candle_type == CandleType.FUTURES, data_format="feather")
        return df if df is not None and not df.empty else None

    ohlcv = load(CandleType.FUTURES, timeframe)
    if ohlcv is None:
        files = sorted(p.name for p in (path / "futures").glob("*-futures.feather")) if (path / "futures").is_dir() else []
        raise DataError(
            f"no {timeframe} futures candles for {pair} in {path / 'futures'}"
            + (f" within {timerange}" if timerange else "")
            + (f"; found: {', '.join(files[:8])}" if files else "; the folder has no futures data (run liqrisk simulate or freqtrade download-data)")
        )
    ohlcv = ohlcv.reset_index(drop=True)
    if oi_sources is _FROM_CONFIG:
        oi_sources = config_model_key(config, "oi_sources")
    if taker is _FROM_CONFIG:
        taker = config_model_key(config, "use_archive_taker")
    sources = tuple(oi_sources or ())
    if sources:
        frames = []
        for name in sources:
            folder = exchange_folder(path, name)
            check_readable(candle_file(folder, pair, timeframe, CandleType.OPEN_INTEREST))
            frames.append(load_oi_from(folder, pair, timeframe, tr, startup_candles, load_pair_history))
        open_interest = summed_open_interest(pair, sources, frames, ohlcv)
    else:
        open_interest = load(CandleType.OPEN_INTEREST, timeframe)
    taker_candles = 0
    if taker:
        per_5m = max(1, timeframe_to_ns(timeframe) // (300 * 10**9))
        ohlcv, taker_candles = add_archive_taker(
            path, pair, timeframe, ohlcv,
            (lambda: load(CandleType.FUTURES, "5m", startup_candles * per_5m)) if per_5m > 1 else None)
    return MarketData(
        pair=pair, timeframe=timeframe, datadir=path, ohlcv=ohlcv, open_interest=open_interest,
        funding_rate=load(CandleType.FUNDING_RATE, funding_timeframe),
        mark=load(CandleType.MARK, timeframe), oi_sources=sources, taker_candles=taker_candles,
    )


def config_model_key(config: str | Path | None, key: str):
    """The config file's ``liqrisk.<key>`` checked as the model config checks it, else its default."""
    from liqrisk.config import LiqConfig

    section = (read_config(config).get("liqrisk") or {}) if config else {}
    if not isinstance(section, dict) or key not in section:
        return getattr(LiqConfig(), key)
    try:
        return getattr(LiqConfig.from_mapping({key: section[key]}), key)
    except ConfigError as e:
        raise ConfigError(f"config file {config}: liqrisk.{e}") from None


def sources_summary(market: MarketData) -> str | None:
    """One line on the summed OI: the exchanges and on how many OI stamps each was present."""
    from liqrisk.core.oi_sources import SOURCES_COLUMN

    oi = market.open_interest
    if not market.oi_sources:
        return None
    if oi is None or SOURCES_COLUMN not in oi.columns:
        return f"open interest: none of {', '.join(market.oi_sources)} has any for {market.pair}"
    mask = oi[SOURCES_COLUMN].to_numpy().astype(np.int64)
    every = (1 << len(market.oi_sources)) - 1
    parts = [f"{name} {int(((mask >> i) & 1).sum())}" for i, name in enumerate(market.oi_sources)]
    return (f"open interest: summed over {', '.join(market.oi_sources)}; all present on {int((mask == every).sum())} "
            f"of {len(mask)} OI stamps ({', '.join(parts)}); candles whose sources change are OI gaps")


def exchange_folder(datadir: Path, exchange: str) -> Path:
    """The data folder of ``exchange`` beside ``datadir`` (``user_data/data/binance`` ->
    ``user_data/data/bybit``); ``datadir`` itself for its own exchange (its folder name)."""
    check_exchange_name(exchange)
    datadir = Path(datadir)
    return datadir if datadir.name == exchange else datadir.parent / exchange


def load_oi_from(folder: Path, pair: str, timeframe: str, tr=None, startup_candles: int = 0,
                 loader=None) -> pd.DataFrame | None:
    """One exchange's ``open_interest`` candles through freqtrade's data handler, or None."""
    from freqtrade.enums import CandleType

    if loader is None:
        from freqtrade.data.history import load_pair_history as loader
    if not (Path(folder) / "futures").is_dir():
        return None
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "The inplace keyword", category=getattr(pd.errors, "Pandas4Warning", FutureWarning))
        df = loader(pair, timeframe, Path(folder), timerange=tr, candle_type=CandleType.OPEN_INTEREST,
                    startup_candles=startup_candles, fill_up_missing=False, data_format="feather")
    return df if df is not None and not df.empty else None


def summed_open_interest(pair: str, sources: tuple[str, ...], frames: list, price: pd.DataFrame | None):
    """``sum_open_interest`` of the sources' frames, with one warning naming the sources that
    have no OI at all for ``pair`` (they stay out of every sum and of ``liq_oi_sources``)."""
    from liqrisk._util import warn_once
    from liqrisk.core.oi_sources import sum_open_interest

    missing = [name for name, f in zip(sources, frames, strict=True) if f is None or f.empty]
    if missing:
        warn_once(("oi_sources_missing", pair, tuple(missing)), "liqrisk: no open_interest for %s from %s; "
                  "summing %s only (liq_oi_sources says which exchanges each candle holds).", pair,
                  ", ".join(missing), ", ".join(n for n in sources if n not in missing) or "nothing")
    return sum_open_interest(frames, price=price)


def add_archive_taker(datadir: Path, pair: str, timeframe: str, ohlcv: pd.DataFrame,
                      load_5m=None) -> tuple[pd.DataFrame, int]:
    """``ohlcv`` with ``taker_buy_volume`` from the pair's archive ``oi_metrics`` file (the
    taker ratio; ``liqrisk.core.taker``) and how many candles got a value. Unchanged when
    there is no such file or the candles already carry the column."""
    from liqrisk.core.taker import taker_buy_share, with_taker_volume
    from liqrisk.tools.download.store import load_ratios

    if "taker_buy_volume" in ohlcv.columns:
        return ohlcv, 0
    try:
        metrics = load_ratios(Path(datadir), pair)
    except Exception as e:  # noqa: BLE001 - pyarrow raises many kinds; the engine does without
        raise DataError(f"the taker ratio file of {pair} in {Path(datadir) / 'liqrisk_oi_metrics'} is unreadable "
                        f"({e}); delete it and run liqrisk download-oi again.") from None
    if metrics is None:
        return ohlcv, 0
    share = taker_buy_share(ohlcv["date"], timeframe, metrics, volume_5m=load_5m() if load_5m else None)
    known = int(np.isfinite(share).sum())
    return (with_taker_volume(ohlcv, share), known) if known else (ohlcv, 0)


def candle_file(datadir: Path, pair: str, timeframe: str, candle_type) -> Path:
    """freqtrade's feather file of ``pair``'s ``candle_type`` candles (futures layout)."""
    from freqtrade.misc import pair_to_filename

    return Path(datadir) / "futures" / f"{pair_to_filename(pair)}-{timeframe}-{candle_type.value}.feather"


def check_readable(path: Path) -> None:
    """DataError when ``path`` exists but is no readable feather file (empty, truncated,
    another format); nothing when it is readable or absent (absent is "no data")."""
    if not path.is_file():
        return
    size = path.stat().st_size
    if size == 0:
        raise DataError(f"{path} is unreadable: the file is empty (0 bytes); delete it and download or "
                        "simulate the data again.")
    import pyarrow as pa
    import pyarrow.ipc

    try:
        with pa.memory_map(str(path)) as source:
            pyarrow.ipc.open_file(source).schema  # noqa: B018 - reading the footer is the check
    except (pa.ArrowException, OSError) as e:
        raise DataError(f"{path} is unreadable: not a complete feather file ({size} bytes; {e}); it may be "
                        "truncated by an interrupted download: delete it and download or simulate the data "
                        "again.") from None


def file_span(path: Path) -> tuple[pd.Timestamp, pd.Timestamp]:
    """First and last candle open (UTC) in a feather candle file."""
    dates = pd.to_datetime(pd.read_feather(path, columns=["date"])["date"], utc=True)
    return dates.min(), dates.max()


def _check_timerange_overlaps(tr, timerange: str, candles: Path, pair: str, timeframe: str) -> None:
    """DataError when ``tr`` lies wholly after or before the candles in ``candles``."""
    try:
        first, last = file_span(candles)
    except Exception:  # noqa: BLE001 - an odd file is freqtrade's to report; this check only adds a hint
        return
    if pd.isna(first):
        return
    span = f"the {pair} {timeframe} candles cover {first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M} UTC"
    start = pd.Timestamp(tr.startts, unit="s", tz="UTC") if tr.starttype else None
    stop = pd.Timestamp(tr.stopts, unit="s", tz="UTC") if tr.stoptype else None
    asked = f"timerange {timerange}"
    if not re.fullmatch(r"\d{8}-\d{0,8}|-\d{8}", timerange):  # epoch seconds (map --at): show dates
        asked += f" ({start:%Y-%m-%d %H:%M} UTC" if start is not None else " (the start"
        asked += f" to {stop:%Y-%m-%d %H:%M} UTC)" if stop is not None else " to the end)"
    if start is not None and start > last:
        raise DataError(f"{asked} starts after the data's end: {span}; choose a time inside it or download "
                        "more recent data.")
    if stop is not None and stop <= first:
        raise DataError(f"{asked} ends before the data's start: {span}; choose a time inside it or download "
                        "older data.")
