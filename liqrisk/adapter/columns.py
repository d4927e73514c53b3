"""What ``populate_indicators`` needs: the ``liqrisk`` config, the auxiliary candles of a
pair from the DataProvider, and the ``liq_*`` columns built from them.

Time alignment: every column of a row is known at that candle's *close* (open date +
timeframe); ``compute_features`` and ``liqrisk.core.align.funding_at_close`` enforce it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from freqtrade.enums import CandleType, RunMode
from freqtrade.exceptions import ConfigurationError

import liqrisk
from liqrisk._util import timeframe_to_ns
from liqrisk.adapter import ft_compat
from liqrisk.core.align import funding_at_close
from liqrisk.core.live import LiveFeatures
from liqrisk.core.oi_sources import FLAG_COLUMN, sources_flag
from liqrisk.core.taker import taker_buy_share, with_taker_volume

logger = logging.getLogger(__name__)

#: Shortest open-interest history period the exchanges serve (Binance, Bybit).
OI_MIN_TIMEFRAME = "5m"
#: Run modes that compute features (and so load the numba kernels).
COMPUTING_RUNMODES = {RunMode.BACKTEST, RunMode.HYPEROPT, RunMode.DRY_RUN, RunMode.LIVE, RunMode.PLOT,
                      RunMode.OTHER}
_OHLCV = ["date", "open", "high", "low", "close", "volume"]


class LiqriskConfigurationError(liqrisk.ConfigError, ConfigurationError):
    """A bad ``liqrisk`` setting found at bot start: liqrisk's ``ConfigError`` and freqtrade's
    ``ConfigurationError`` at once, so freqtrade reports it as one "Configuration error: ..."
    line like its own config problems (instead of "Fatal exception!" and a traceback), and
    callers that catch liqrisk's errors still do."""


def load_config(strategy_config: dict | None, ft_config: dict, window: str) -> liqrisk.LiqConfig:
    """The strategy's ``liqrisk_config`` with the freqtrade config's ``liqrisk`` section merged
    over it; ``window`` (the strategy's ``liqrisk_window``) must be one of its windows.

    :raises LiqriskConfigurationError: a section that is not a JSON object, or a bad key or
        value; the message names the key, the value and where it came from.
    """
    section = ft_config.get("liqrisk")
    if section is None:
        section = {}
    if not isinstance(section, Mapping):
        raise LiqriskConfigurationError(
            f"the freqtrade config's 'liqrisk' section must be a JSON object of liqrisk model keys, e.g. "
            f'{{"windows": ["12h", "1d"]}}; got {type(section).__name__} {section!r}.')
    if strategy_config is not None and not isinstance(strategy_config, Mapping):
        raise LiqriskConfigurationError(
            f"the strategy's liqrisk_config must be a dict of liqrisk model keys; got "
            f"{type(strategy_config).__name__} {strategy_config!r}.")
    cfg = {**(strategy_config or {}), **section}
    try:
        out = liqrisk.LiqConfig.from_mapping(cfg)
    except (liqrisk.ConfigError, TypeError, ValueError) as e:
        raise LiqriskConfigurationError(
            f"liqrisk settings (the strategy's liqrisk_config with the freqtrade config's 'liqrisk' section "
            f"over it): {e}") from e
    if window not in out.windows:
        raise LiqriskConfigurationError(
            f"liqrisk_window={window!r} is not one of the configured windows "
            f"{list(out.windows)}; set liqrisk_window or the 'windows' key.")
    return out


def oi_timeframe(timeframe: str) -> str:
    """Open-interest history starts at 5m on Binance and Bybit (ccxt's openInterestHist
    periods), so a 1m or 3m strategy reads 5m OI; the engine's as-of alignment treats a
    5m row as known at its close, so nothing leaks into the 1m candles inside it."""
    return timeframe if timeframe_to_ns(timeframe) >= timeframe_to_ns(OI_MIN_TIMEFRAME) else OI_MIN_TIMEFRAME


class WarnOnce:
    """``logger.warning`` once per key (a bot analyses every candle; one warning is enough)."""

    def __init__(self) -> None:
        self.seen: set = set()

    def __call__(self, key, msg: str, *args) -> None:
        if key not in self.seen:
            self.seen.add(key)
            logger.warning(msg, *args)


@dataclass(frozen=True)
class AuxCandles:
    """A pair's auxiliary candle frames from the DataProvider (None: absent)."""

    open_interest: pd.DataFrame | None = None
    funding_rate: pd.DataFrame | None = None
    mark: pd.DataFrame | None = None
    #: With ``oi_sources``: each listed exchange's OI frame (None: none), summed in ``build``.
    oi_by_source: tuple[pd.DataFrame | None, ...] | None = None
    #: The archive's long/short statistics (``liqrisk download-oi``), for the taker split,
    #: and the pair's 5m futures candles that weight them in coarser candles.
    oi_metrics: pd.DataFrame | None = None
    volume_5m: pd.DataFrame | None = None


class DiskFrames:
    """Frames read from files beside the bot's datadir (other exchanges' OI, the archive's
    statistics), kept until the file changes: a bot analyses every candle."""

    def __init__(self) -> None:
        self.cache: dict[tuple, tuple[tuple, pd.DataFrame | None]] = {}

    def get(self, key: tuple, path: Path, read) -> pd.DataFrame | None:
        try:
            st = path.stat()
        except OSError:
            return None
        stamp = (st.st_mtime_ns, st.st_size)
        hit = self.cache.get(key)
        if hit is None or hit[0] != stamp:
            hit = self.cache[key] = (stamp, read())
        return hit[1]


def bot_datadir(dp) -> tuple[Path | None, str | None]:
    """The bot's exchange data folder and exchange id.

    Why: freqtrade's DataProvider reads only the bot's own exchange, so other exchanges'
    files (``oi_sources``) and liqrisk's own files are read from disk beside its folder. The
    DataProvider does not expose its config; this reads the private ``dp._config`` (where
    freqtrade's ``Configuration`` put ``datadir`` = ``user_data/data/<exchange>``)."""
    config = getattr(dp, "_config", None)
    if not isinstance(config, Mapping):
        return None, None
    datadir, exchange = config.get("datadir"), config.get("exchange")
    name = exchange.get("name") if isinstance(exchange, Mapping) else None
    return (Path(datadir) if isinstance(datadir, str | Path) else None), name


class PairColumns:
    """Builds the ``liq_*`` columns of a strategy's pairs.

    :param config: the model configuration (``load_config``).
    :param timeframe: the strategy timeframe.
    :param rsi_period: RSI period, candles.
    :param warn: a ``WarnOnce`` shared with the strategy.

    In dry-run/live one ``LiveFeatures`` per pair (``live``) steps only new candles.
    """

    def __init__(self, config: liqrisk.LiqConfig, timeframe: str, rsi_period: int, warn: WarnOnce) -> None:
        self.config = config
        self.timeframe = timeframe
        self.rsi_period = rsi_period
        self.warn = warn
        self.live: dict[str, LiveFeatures] = {}
        self.files = DiskFrames()

    def aux_candles(self, dp, pair: str, *, futures: bool, use_mark: bool) -> AuxCandles:
        """OI (at ``oi_timeframe``), funding and (if ``use_mark``) mark candles of a futures pair."""
        if not futures:
            self.warn(("spot", pair), "liqrisk: %s is not a futures pair; no open interest or funding "
                      "(volume proxy, liq_oi_fallback=1).", pair)
            return AuxCandles()
        tf = self.timeframe
        own = self._aux(dp, pair, oi_timeframe(tf), CandleType.OPEN_INTEREST)
        datadir, exchange = bot_datadir(dp)
        metrics = volume_5m = None
        if datadir is not None and self.config.use_archive_taker:
            metrics, volume_5m = self._archive_taker(datadir, pair)
        return AuxCandles(
            open_interest=own,
            funding_rate=self._aux(dp, pair, ft_compat.funding_timeframe(dp), CandleType.FUNDING_RATE),
            mark=self._aux(dp, pair, tf, CandleType.MARK) if use_mark and self.config.use_mark else None,
            oi_by_source=self._oi_by_source(datadir, exchange, pair, own), oi_metrics=metrics, volume_5m=volume_5m,
        )

    def _oi_by_source(self, datadir: Path | None, exchange: str | None, pair: str, own) -> tuple | None:
        """Each ``oi_sources`` exchange's OI at ``oi_timeframe``: the bot's own from the
        DataProvider, the others from their folders beside the bot's (freqtrade's handler)."""
        from liqrisk.tools.datadir import candle_file, exchange_folder, load_oi_from

        sources = self.config.oi_sources
        if not sources:
            return None
        if datadir is None:
            self.warn(("oi_sources", pair), "liqrisk: oi_sources is set but the bot's datadir is unknown; "
                      "using %s's own open interest only.", pair)
            return None
        tf = oi_timeframe(self.timeframe)
        frames = []
        for name in sources:
            if name == exchange:
                frames.append(own)
                continue
            folder = exchange_folder(datadir, name)
            path = candle_file(folder, pair, tf, CandleType.OPEN_INTEREST)
            frames.append(self.files.get(("oi", name, pair, tf), path, lambda f=folder: load_oi_from(f, pair, tf)))
        return tuple(frames)

    def _archive_taker(self, datadir: Path, pair: str):
        """The pair's ``liqrisk_oi_metrics`` file and, for candles coarser than 5m, its 5m
        futures candles (the slices' weights); (None, None) without the file."""
        from liqrisk.tools.datadir import candle_file
        from liqrisk.tools.download.store import load_ratios, ratios_path

        try:
            metrics = self.files.get(("oi_metrics", pair), ratios_path(datadir, pair),
                                     lambda: load_ratios(datadir, pair))
        except Exception as e:  # noqa: BLE001 - pyarrow raises many kinds; never stop the bot
            self.warn(("oi_metrics", pair), "liqrisk: reading the taker ratios of %s failed (%r); using the "
                      "candle-shape long/short split.", pair, e)
            return None, None
        if metrics is None or timeframe_to_ns(self.timeframe) <= timeframe_to_ns(OI_MIN_TIMEFRAME):
            return metrics, None
        path = candle_file(datadir, pair, OI_MIN_TIMEFRAME, CandleType.FUTURES)
        return metrics, self.files.get(("5m", pair), path, lambda: pd.read_feather(path, columns=["date", "volume"]))

    def _aux(self, dp, pair: str, timeframe: str, candle_type: CandleType) -> pd.DataFrame | None:
        """One auxiliary frame; None when absent. Never raises: the engine's fallback
        (``liq_oi_fallback`` / ``liq_funding_fallback`` = 1) covers a missing frame."""
        if dp is None:
            return None
        try:
            df = dp.get_pair_dataframe(pair, timeframe, candle_type=candle_type)
        except Exception as e:  # noqa: BLE001 - a data-file reader can raise anything; never stop the bot
            self.warn(("aux", pair, str(candle_type)), "liqrisk: reading %s candles for %s failed (%r); "
                      "continuing without them (see liq_oi_fallback / liq_funding_fallback).", candle_type, pair, e)
            return None
        if df is None or df.empty:
            self.warn(("aux", pair, str(candle_type)), "liqrisk: no %s candles for %s; continuing without them "
                      "(see liq_oi_fallback / liq_funding_fallback).", candle_type, pair)
            return None
        return df

    def build(self, dataframe: pd.DataFrame, pair: str, aux: AuxCandles, *, live: bool) -> pd.DataFrame:
        """``dataframe`` with the ``liq_*`` columns joined (same rows and index; existing
        ``liq_*`` columns are replaced, so it is idempotent)."""
        candles = dataframe[_OHLCV]
        if aux.oi_metrics is not None:
            share = taker_buy_share(dataframe["date"], self.timeframe, aux.oi_metrics, volume_5m=aux.volume_5m)
            if np.isfinite(share).any():
                candles = with_taker_volume(candles, share)
        oi = aux.open_interest if aux.oi_by_source is None else self._summed(pair, dataframe, aux.oi_by_source)
        kw = {"open_interest": oi, "funding_rate": aux.funding_rate, "mark": aux.mark}
        if live:
            # A bot hands over its whole rolling frame on every candle: step only the new
            # ones. Rows with a full startup of history equal compute_features exactly.
            stepper = self.live.get(pair)
            if stepper is None:
                stepper = self.live[pair] = LiveFeatures(pair=pair, timeframe=self.timeframe, config=self.config)
            feats = stepper.update(candles, **kw)
        else:
            feats = liqrisk.compute_features(candles, pair=pair, timeframe=self.timeframe, config=self.config, **kw)
        extra = pd.DataFrame({
            "liq_rsi": rsi(dataframe["close"].astype(float), self.rsi_period),
            "liq_funding_rate": funding_at_close(dataframe["date"], aux.funding_rate, timeframe=self.timeframe,
                                                 max_staleness=self.config.funding_max_staleness, pair=pair),
        }, index=dataframe.index)
        if aux.oi_by_source is not None:
            extra[FLAG_COLUMN] = sources_flag(dataframe["date"], oi, feats["liq_oi_fallback"], timeframe=self.timeframe,
                                              oi_max_staleness=self.config.oi_max_staleness)
        new = pd.concat([feats, extra], axis=1)
        keep = dataframe.drop(columns=[c for c in new.columns if c in dataframe.columns])
        out = pd.concat([keep, new], axis=1)
        if int(new["liq_oi_fallback"].iloc[-1]) == 1:
            self.warn(("oi_fallback", pair), "liqrisk: %s uses the volume proxy for open interest "
                      "(liq_oi_fallback=1).", pair)
        return out


    def _summed(self, pair: str, dataframe: pd.DataFrame, frames: tuple) -> pd.DataFrame | None:
        """The exchanges' OI summed per stamp (``liqrisk.core.oi_sources``), from two days
        before the first candle (the engine's look-back) on; whole files need not be summed
        on every candle of a bot."""
        from liqrisk.tools.datadir import summed_open_interest

        start = pd.to_datetime(dataframe["date"].iloc[:1], utc=True).iloc[0] - pd.Timedelta("2D")
        if self.config.oi_max_staleness:
            start -= pd.Timedelta(timeframe_to_ns(self.config.oi_max_staleness, key="oi_max_staleness"), "ns")
        cut = [None if f is None else f[pd.to_datetime(f["date"], utc=True) >= start] for f in frames]
        return summed_open_interest(pair, self.config.oi_sources, cut, dataframe[["date", "close"]])


def rsi(close: pd.Series, period: int) -> np.ndarray:
    """RSI of ``close`` (0..100, NaN for the first ``period`` rows), float64."""
    from ta.momentum import RSIIndicator

    return RSIIndicator(close, window=period, fillna=False).rsi().to_numpy(np.float64)


_warm_up_started = threading.Lock()


def start_warm_up(config: dict) -> None:
    """Load the engine's kernels in a background thread, once per process, in run modes
    that compute features.

    freqtrade builds the strategy before it loads the candles, so the kernels' first-use
    cost (about 0.5 s) overlaps with loading data instead of delaying the first pair.
    A failure here changes nothing: the first real call loads them itself.
    """
    if ft_compat.runmode_of(config) not in COMPUTING_RUNMODES or not _warm_up_started.acquire(blocking=False):
        return

    def run() -> None:
        try:
            from liqrisk.core.engine import warm_up

            warm_up()
        except Exception as e:  # noqa: BLE001 - a background thread; numba can raise anything
            logger.warning("liqrisk: kernel warm-up failed (%r); the first analysis compiles them instead.", e)

    # A daemon: the interpreter does not wait for it at exit, so a bot stopped while the
    # kernels still compile (a cold cache: 5-20 s) exits at once (issue #15). numba writes
    # its cache files whole (temp file + rename), so a compile cut short leaves no bad entry.
    threading.Thread(target=run, name="liqrisk-warm-up", daemon=True).start()
