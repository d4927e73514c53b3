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

import numpy as np
import pandas as pd
from freqtrade.enums import CandleType, RunMode
from freqtrade.exceptions import ConfigurationError

import liqrisk
from liqrisk._util import timeframe_to_ns
from liqrisk.adapter import ft_compat
from liqrisk.core.align import funding_at_close
from liqrisk.core.live import LiveFeatures

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

    def aux_candles(self, dp, pair: str, *, futures: bool, use_mark: bool) -> AuxCandles:
        """OI (at ``oi_timeframe``), funding and (if ``use_mark``) mark candles of a futures pair."""
        if not futures:
            self.warn(("spot", pair), "liqrisk: %s is not a futures pair; no open interest or funding "
                      "(volume proxy, liq_oi_fallback=1).", pair)
            return AuxCandles()
        tf = self.timeframe
        return AuxCandles(
            open_interest=self._aux(dp, pair, oi_timeframe(tf), CandleType.OPEN_INTEREST),
            funding_rate=self._aux(dp, pair, ft_compat.funding_timeframe(dp), CandleType.FUNDING_RATE),
            mark=self._aux(dp, pair, tf, CandleType.MARK) if use_mark and self.config.use_mark else None,
        )

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
        kw = {"open_interest": aux.open_interest, "funding_rate": aux.funding_rate, "mark": aux.mark}
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
        new = pd.concat([feats, extra], axis=1)
        keep = dataframe.drop(columns=[c for c in new.columns if c in dataframe.columns])
        out = pd.concat([keep, new], axis=1)
        if int(new["liq_oi_fallback"].iloc[-1]) == 1:
            self.warn(("oi_fallback", pair), "liqrisk: %s uses the volume proxy for open interest "
                      "(liq_oi_fallback=1).", pair)
        return out


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

    threading.Thread(target=run, name="liqrisk-warm-up").start()
