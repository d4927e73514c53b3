"""``LiqRiskMixin``: liqrisk's rules as freqtrade callbacks.

Add it with one line, before ``IStrategy``::

    class MyStrategy(LiqRiskMixin, IStrategy):
        ...

What it does (thresholds are hyperopt parameters in the ``liqrisk`` space):

* ``advise_indicators`` adds the ``liq_*`` feature columns (``liqrisk.compute_features``
  on the candles, ``open_interest``, ``funding_rate`` and ``mark`` candles from the
  DataProvider) plus ``liq_rsi`` and ``liq_funding_rate`` *before* your
  ``populate_indicators`` runs, so your signals can use them. Rows and the last candle
  are unchanged.
* ``confirm_trade_entry`` vetoes entries into crowded zones (``liqrisk.core.rules.entry_veto``).
* ``custom_stoploss`` keeps the stop out of liquidation-cluster bands
  (``liqrisk.core.rules.place_stop``).
* ``leverage`` caps leverage so the trade's own liquidation price lies beyond the stop
  and the nearest same-side cluster (``liqrisk.core.rules.cap_leverage``).
* In dry-run/live, ``dp.send_msg`` alerts when price nears a large cluster.

Time alignment: in every callback at ``current_time`` the rules use the feature row of
the last candle *closed* at ``current_time`` (row D with D + timeframe ≤ current_time),
the same row ``dp.get_analyzed_dataframe`` ends with. No callback looks further.

Composition: if your strategy defines ``confirm_trade_entry``, ``custom_stoploss``,
``leverage``, ``confirm_trade_exit`` or ``informative_pairs`` itself, the mixin wraps it
(at class creation) and applies its rules once to what your method returns: a veto from
either side wins; the tighter stop wins unless the cluster rule moves it; the lower
leverage wins; informative pairs are merged. Calling ``super()`` in your method is
allowed and returns the next class's answer without the liqrisk layer.
"""

from __future__ import annotations

import atexit
import json
import logging
import math
import threading
import time
from array import array
from bisect import bisect_right
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
from freqtrade.enums import CandleType, RunMode
from freqtrade.strategy import DecimalParameter, IntParameter, stoploss_from_absolute

import liqrisk
from liqrisk._util import timeframe_to_ns
from liqrisk.core import rules
from liqrisk.core.live import LiveFeatures
from liqrisk.core.rules import RuleParams, Snapshot

logger = logging.getLogger(__name__)

#: Shortest open-interest history period the exchanges serve (Binance, Bybit).
OI_MIN_TIMEFRAME = "5m"

_SPACE = "liqrisk"
_STOP_EXITS = ("stop_loss", "trailing_stop_loss", "stoploss_on_exchange")
#: Hooks that a strategy's own definition is wrapped for (see module docstring).
_WRAPPED = ("confirm_trade_entry", "custom_stoploss", "leverage", "confirm_trade_exit", "informative_pairs")


class LiqRiskMixin:
    """Liquidation-cluster risk rules for a freqtrade strategy. See the module docstring."""

    # -- settings (class attributes; override in your strategy) ---------------------------
    #: Model configuration (``liqrisk.LiqConfig`` keys). The freqtrade config's ``liqrisk``
    #: section, if any, is merged over it.
    liqrisk_config: dict | None = None
    #: Which window's clusters the rules use (one of the configured ``windows``).
    liqrisk_window: str = "1d"
    #: RSI period (candles) for the funding + RSI veto.
    liqrisk_rsi_period: int = 14
    #: Use mark-price candles at the strategy timeframe when the DataProvider has them.
    liqrisk_use_mark: bool = True
    #: Minimum minutes between two alerts for the same pair (dry-run/live).
    liqrisk_alert_cooldown_min: float = 60.0

    # -- hyperopt parameters ("liqrisk" space) --------------------------------------------
    liqrisk_min_share = DecimalParameter(0.01, 0.10, default=0.03, decimals=3, space=_SPACE)
    liqrisk_band = DecimalParameter(0.001, 0.010, default=0.004, decimals=4, space=_SPACE)
    liqrisk_veto_dist = DecimalParameter(0.0, 0.04, default=0.02, decimals=3, space=_SPACE)
    liqrisk_funding_veto = DecimalParameter(0.0001, 0.002, default=0.0003, decimals=4, space=_SPACE)
    liqrisk_rsi_high = IntParameter(60, 90, default=75, space=_SPACE)
    liqrisk_rsi_low = IntParameter(10, 40, default=25, space=_SPACE)
    liqrisk_stop_near = DecimalParameter(0.0, 0.010, default=0.003, decimals=4, space=_SPACE)
    liqrisk_stop_buffer = DecimalParameter(0.0005, 0.010, default=0.003, decimals=4, space=_SPACE)
    liqrisk_max_risk = DecimalParameter(0.02, 0.30, default=0.15, decimals=3, space=_SPACE)
    liqrisk_lev_buffer = DecimalParameter(0.0, 0.05, default=0.01, decimals=3, space=_SPACE)
    liqrisk_alert_dist = DecimalParameter(0.002, 0.03, default=0.01, decimals=3, space=_SPACE, optimize=False)

    use_custom_stoploss = True
    plot_config = None  # set right after the class body (needs liqrisk_plot_config)

    # -------------------------------------------------------------------------------------
    # Class creation: wrap the subclass's own hooks so the rules compose with them.

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for name in _WRAPPED:
            fn = cls.__dict__.get(name)
            if fn is not None and not getattr(fn, "_liqrisk_wrapped", False):
                setattr(cls, name, _WRAPPERS[name](fn))
        for name in _READ_ONLY:
            # A base strategy behind the mixin with its own hook gets freqtrade's protective
            # deepcopy of the trade back (see _READ_ONLY).
            if name not in cls.__dict__ and any(
                name in vars(b) for b in cls.__mro__[1:]
                if not issubclass(b, LiqRiskMixin) and b.__module__ != "freqtrade.strategy.interface"
                and b is not object
            ):
                setattr(cls, name, _HONEST[name])
        # Keep a plot_config the strategy chose; otherwise match it to the strategy's window.
        if "plot_config" not in cls.__dict__ and getattr(cls.plot_config, "liqrisk", False):
            cls.plot_config = liqrisk_plot_config(cls.liqrisk_window)

    def __init__(self, config: dict) -> None:
        super().__init__(config)
        cfg = dict(self.liqrisk_config or {})
        cfg.update(config.get("liqrisk") or {})
        self._liq_cfg = liqrisk.LiqConfig.from_mapping(cfg)
        if self.liqrisk_window not in self._liq_cfg.windows:
            raise liqrisk.ConfigError(
                f"liqrisk_window={self.liqrisk_window!r} is not one of the configured windows "
                f"{list(self._liq_cfg.windows)}; set liqrisk_window or the 'windows' key.")
        tf = config.get("timeframe") or self.timeframe
        self._liq_tf_ns = timeframe_to_ns(tf)
        need = liqrisk.required_startup_candles(self._liq_cfg, tf)
        # The features are exact only with this much history before the first candle.
        self.startup_candle_count = max(int(getattr(self, "startup_candle_count", 0) or 0), need)
        self._liq_cache: dict[str, _RuleInputs] = {}
        self._liq_params: tuple[tuple, RuleParams] | None = None
        self._liq_tiers: dict[str, liqrisk.TierTable] = {}
        self._liq_live: dict[str, LiveFeatures] = {}  # dry-run / live: incremental features per pair
        self._liq_default_stop = _next_is_default(type(self), "custom_stoploss")
        self._liq_own_params = type(self).liqrisk_rule_params is not LiqRiskMixin.liqrisk_rule_params
        self._liq_depth = 0
        self._liq_last_alert: dict[str, float] = {}
        self._liq_logged: set = set()
        self._liq_stop_rule: dict[int, str] = {}
        if config.get("runmode") in _COMPUTING_RUNMODES:
            _start_warm_up()
        self._liq_counts = {"veto": {}, "stop_moved": {}, "stop_exit": {}, "leverage_capped": {},
                            "stop_exits_total": 0, "entries_checked": 0}
        self._liq_vetoes: list[dict] = []
        self._liq_report_registered = False

    # -------------------------------------------------------------------------------------
    # Parameters and data

    def liqrisk_rule_params(self) -> RuleParams:
        """Current rule thresholds (hyperopt values when hyperopting).

        Read from the parameters on every call, so a value hyperopt (or anyone) assigns
        takes effect at once; the RuleParams object is reused while the values are unchanged
        (callbacks run per candle and per trade in backtesting)."""
        key = (self.liqrisk_min_share.value, self.liqrisk_band.value, self.liqrisk_veto_dist.value,
               self.liqrisk_funding_veto.value, self.liqrisk_rsi_high.value, self.liqrisk_rsi_low.value,
               self.liqrisk_stop_near.value, self.liqrisk_stop_buffer.value, self.liqrisk_max_risk.value,
               self.liqrisk_lev_buffer.value)
        cached = self._liq_params
        if cached is not None and cached[0] == key:
            return cached[1]
        p = RuleParams(*(float(v) for v in key))  # RuleParams' field order
        self._liq_params = (key, p)
        return p

    def _liq_futures(self) -> bool:
        return self.config.get("trading_mode", "spot") == "futures"

    @staticmethod
    def _liq_oi_tf(timeframe: str) -> str:
        """Open-interest history starts at 5m on Binance and Bybit (ccxt's openInterestHist
        periods), so a 1m or 3m strategy reads 5m OI; the engine's as-of alignment treats a
        5m row as known at its close, so nothing leaks into the 1m candles inside it."""
        return timeframe if timeframe_to_ns(timeframe) >= timeframe_to_ns(OI_MIN_TIMEFRAME) else OI_MIN_TIMEFRAME

    def _liq_aux(self, pair: str, timeframe: str | None, candle_type: CandleType) -> pd.DataFrame | None:
        """An auxiliary candle frame from the DataProvider; None when absent (never raises)."""
        if self.dp is None:
            return None
        try:
            df = self.dp.get_pair_dataframe(pair, timeframe, candle_type=candle_type)
        except Exception as e:  # a missing file or an exchange without this candle type
            self._liq_log_once(("aux", pair, str(candle_type)), "liqrisk: no %s candles for %s (%s); "
                               "continuing without them.", candle_type, pair, e)
            return None
        if df is None or df.empty:
            self._liq_log_once(("aux", pair, str(candle_type)), "liqrisk: no %s candles for %s; continuing "
                               "without them (see liq_oi_fallback / liq_funding_fallback).", candle_type, pair)
            return None
        return df

    def _liq_funding_tf(self) -> str:
        try:
            return self.dp.get_funding_rate_timeframe() or "1h"
        except Exception:  # no exchange attached (unit tests, plotting)
            return "1h"

    def _liq_log_once(self, key, msg, *args) -> None:
        if key not in self._liq_logged:
            self._liq_logged.add(key)
            logger.warning(msg, *args)

    # -------------------------------------------------------------------------------------
    # Indicators

    def advise_indicators(self, dataframe: pd.DataFrame, metadata: dict) -> pd.DataFrame:
        """Add the liqrisk columns, then run the strategy's own ``populate_indicators``."""
        dataframe = self.liqrisk_populate(dataframe, metadata)
        return super().advise_indicators(dataframe, metadata)

    def liqrisk_populate(self, dataframe: pd.DataFrame, metadata: dict) -> pd.DataFrame:
        """Join the ``liq_*`` columns to ``dataframe`` (same rows, same index).

        Called automatically by ``advise_indicators``; idempotent. Columns: every
        ``compute_features`` column, ``liq_rsi`` (RSI of close, 0..100) and
        ``liq_funding_rate`` (fraction per 8h, the latest funding row with D + tf ≤ the
        candle's close, NaN if older than ``funding_max_staleness``).
        """
        pair = metadata.get("pair", "")
        if len(dataframe) == 0 or "date" not in dataframe.columns:
            return dataframe
        tf = self.config.get("timeframe") or self.timeframe
        oi = funding = mark = None
        if self._liq_futures():
            oi = self._liq_aux(pair, self._liq_oi_tf(tf), CandleType.OPEN_INTEREST)
            funding = self._liq_aux(pair, self._liq_funding_tf(), CandleType.FUNDING_RATE)
            if self.liqrisk_use_mark and self._liq_cfg.use_mark:
                mark = self._liq_aux(pair, tf, CandleType.MARK)
        else:
            self._liq_log_once(("spot", pair), "liqrisk: %s is not a futures pair; no open interest or funding "
                               "(volume proxy, liq_oi_fallback=1).", pair)
        candles = dataframe[["date", "open", "high", "low", "close", "volume"]]
        live = self.dp is not None and self.dp.runmode in (RunMode.DRY_RUN, RunMode.LIVE)
        if live:
            # A bot hands over its whole rolling frame on every candle: step only the new
            # ones. Rows with a full startup of history equal compute_features exactly.
            stepper = self._liq_live.get(pair)
            if stepper is None:
                stepper = self._liq_live[pair] = LiveFeatures(pair=pair, timeframe=tf, config=self._liq_cfg)
            feats = stepper.update(candles, open_interest=oi, funding_rate=funding, mark=mark)
        else:
            feats = liqrisk.compute_features(candles, open_interest=oi, funding_rate=funding, mark=mark, pair=pair,
                                             timeframe=tf, config=self._liq_cfg)
        close = dataframe["close"].astype(float)
        extra = pd.DataFrame({
            "liq_rsi": _rsi(close, self.liqrisk_rsi_period),
            "liq_funding_rate": _align_funding(dataframe["date"], funding, self._liq_tf_ns,
                                               timeframe_to_ns(self._liq_cfg.funding_max_staleness)),
        }, index=dataframe.index)
        new = pd.concat([feats, extra], axis=1)
        keep = dataframe.drop(columns=[c for c in new.columns if c in dataframe.columns])
        out = pd.concat([keep, new], axis=1)
        if int(new["liq_oi_fallback"].iloc[-1]) == 1:
            self._liq_log_once(("oi_fallback", pair), "liqrisk: %s uses the volume proxy for open interest "
                               "(liq_oi_fallback=1).", pair)
        self._liq_cache_frame(pair, out)
        if live:
            self._liq_alert(pair, out)
        return out

    _SNAP_COLS = ("close", "below_nearest_price", "below_nearest_usd", "below_strongest_price",
                  "below_strongest_usd", "above_nearest_price", "above_nearest_usd", "above_strongest_price",
                  "above_strongest_usd", "long_outstanding_usd", "short_outstanding_usd", "funding", "rsi")

    def _liq_col_names(self) -> list[str]:
        """Frame columns behind ``_SNAP_COLS``, for the rule window."""
        fixed = {"close": "close", "funding": "liq_funding_rate", "rsi": "liq_rsi"}
        return [fixed.get(c, f"liq_{c}_{self.liqrisk_window}") for c in self._SNAP_COLS]

    def _liq_cache_frame(self, pair: str, frame: pd.DataFrame) -> None:
        """Keep the rule inputs as arrays: callbacks run per candle and per trade in
        backtesting, where slicing a DataFrame each time would dominate the run time."""
        self._liq_cache[pair] = self._liq_inputs(frame)

    def _liq_inputs(self, frame: pd.DataFrame) -> _RuleInputs:
        dates = pd.DatetimeIndex(pd.to_datetime(frame["date"], utc=True)).as_unit("ns").asi8
        values = frame[self._liq_col_names()].to_numpy(np.float64)
        return _RuleInputs(dates + self._liq_tf_ns, values, self._liq_tf_ns)

    def liqrisk_snapshot(self, pair: str, current_time: datetime) -> Snapshot | None:
        """The rule inputs of the last candle closed at ``current_time``; None if unknown
        (no data yet, stale data, or no DataProvider)."""
        entry = self._liq_cache.get(pair)
        if entry is None:
            entry = self._liq_from_dp(pair)
            if entry is None:
                return None
        i = entry.row(_to_ns(current_time))
        if i < 0:
            return None
        v = entry.values[i].tolist()  # plain floats: one conversion, not one per field
        if not (math.isfinite(v[0]) and v[0] > 0):
            return None
        return Snapshot(close=v[0], below=((v[1], v[2]), (v[3], v[4])), above=((v[5], v[6]), (v[7], v[8])),
                        long_out_usd=v[9], short_out_usd=v[10], funding=v[11], rsi=v[12])

    def _liq_from_dp(self, pair: str):
        if self.dp is None:
            return None
        try:
            df, _ = self.dp.get_analyzed_dataframe(pair, self.config.get("timeframe") or self.timeframe)
        except Exception:
            return None
        if df is None or df.empty or not set(self._liq_col_names()) <= set(df.columns):
            return None
        return self._liq_inputs(df)

    def liqrisk_entry_mask(self, dataframe: pd.DataFrame, side: str) -> pd.Series:
        """True where ``confirm_trade_entry`` would *not* veto a ``side`` entry at that
        candle's close: use it in ``populate_entry_trend`` to gate signals (optional)."""
        codes = rules.entry_veto_codes(dataframe, side, self.liqrisk_rule_params(), self.liqrisk_window)
        return pd.Series(codes == 0, index=dataframe.index)

    # -------------------------------------------------------------------------------------
    # Callbacks (each calls super(); see _WRAPPERS for strategies defining their own)

    def informative_pairs(self):
        return self._liq_informative(super().informative_pairs())

    def confirm_trade_entry(self, pair: str, order_type: str, amount: float, rate: float, time_in_force: str,
                            current_time: datetime, entry_tag: str | None, side: str, **kwargs) -> bool:
        ok = super().confirm_trade_entry(pair=pair, order_type=order_type, amount=amount, rate=rate,
                                         time_in_force=time_in_force, current_time=current_time,
                                         entry_tag=entry_tag, side=side, **kwargs)
        return ok if self._liq_depth else self._liq_entry(ok, pair, rate, current_time, side)

    def custom_stoploss(self, pair: str, trade, current_time: datetime, current_rate: float,
                        current_profit: float, after_fill: bool, **kwargs) -> float | None:
        # IStrategy's default returns the static stoploss; returned on every candle it would
        # re-anchor the stop to each candle's price (a trailing stop the strategy never asked
        # for). Without a custom_stoploss of the strategy's own, "no opinion" is None.
        if self._liq_default_stop:
            own = None
        else:
            own = super().custom_stoploss(pair=pair, trade=trade, current_time=current_time,
                                          current_rate=current_rate, current_profit=current_profit,
                                          after_fill=after_fill, **kwargs)
        return own if self._liq_depth else self._liq_stop(own, pair, trade, current_time, current_rate, after_fill)

    def leverage(self, pair: str, current_time: datetime, current_rate: float, proposed_leverage: float,
                 max_leverage: float, entry_tag: str | None, side: str, **kwargs) -> float:
        own = super().leverage(pair=pair, current_time=current_time, current_rate=current_rate,
                               proposed_leverage=proposed_leverage, max_leverage=max_leverage,
                               entry_tag=entry_tag, side=side, **kwargs)
        return own if self._liq_depth else self._liq_leverage(own, pair, current_time, current_rate, side)

    def confirm_trade_exit(self, pair: str, trade, order_type: str, amount: float, rate: float,
                           time_in_force: str, exit_reason: str, current_time: datetime, **kwargs) -> bool:
        ok = super().confirm_trade_exit(pair=pair, trade=trade, order_type=order_type, amount=amount, rate=rate,
                                        time_in_force=time_in_force, exit_reason=exit_reason,
                                        current_time=current_time, **kwargs)
        return ok if self._liq_depth else self._liq_exit(ok, trade, exit_reason)

    def ft_bot_start(self, **kwargs) -> None:
        super().ft_bot_start(**kwargs)
        if self.dp is not None and self.dp.runmode == RunMode.BACKTEST and not self._liq_report_registered:
            # freqtrade has no "backtest finished" hook; the process exits right after the report.
            atexit.register(self.liqrisk_write_report)
            self._liq_report_registered = True

    # -------------------------------------------------------------------------------------
    # The rule layers (applied once per callback, to the strategy's own answer)

    def _liq_informative(self, pairs):
        pairs = list(pairs or [])
        if self.dp is None or not self._liq_futures():
            return pairs
        try:
            whitelist = self.dp.current_whitelist()
        except Exception:  # no pairlist (analysis tools, tests)
            return pairs
        tf = self.config.get("timeframe") or self.timeframe
        exchange = getattr(self.dp, "_exchange", None)
        wanted = [(CandleType.OPEN_INTEREST, self._liq_oi_tf(tf)), (CandleType.FUNDING_RATE, self._liq_funding_tf())]
        if self.liqrisk_use_mark:
            wanted.append((CandleType.MARK, tf))
        for ct, ctf in wanted:
            # Only ask the exchange for candle types it serves: an unsupported one would
            # fail the refresh; without it the engine falls back and flags it.
            if exchange is not None and hasattr(exchange, "check_candle_type_support"):
                try:
                    if not exchange.check_candle_type_support(ct):
                        continue
                except Exception:
                    continue
            for pair in whitelist:
                item = (pair, ctf, ct)
                if item not in pairs:
                    pairs.append(item)
        return pairs

    def _liq_entry(self, ok: bool, pair: str, rate: float, current_time: datetime, side: str) -> bool:
        if not ok:
            return False
        self._liq_counts["entries_checked"] += 1
        snap = self.liqrisk_snapshot(pair, current_time)
        if snap is None:
            return True
        if rate and math.isfinite(rate) and rate > 0:
            snap = Snapshot(close=float(rate), below=snap.below, above=snap.above, long_out_usd=snap.long_out_usd,
                            short_out_usd=snap.short_out_usd, funding=snap.funding, rsi=snap.rsi)
        reason = rules.entry_veto(snap, side, self.liqrisk_rule_params())
        if reason is None:
            return True
        key = f"{side}:{reason}"
        self._liq_counts["veto"][key] = self._liq_counts["veto"].get(key, 0) + 1
        self._liq_vetoes.append({"pair": pair, "date": current_time.isoformat(), "side": side, "reason": reason})
        live = self.dp is not None and self.dp.runmode in (RunMode.DRY_RUN, RunMode.LIVE)
        logger.log(logging.INFO if live else logging.DEBUG, "liqrisk: veto %s entry on %s at %s: %s",
                   side, pair, current_time, reason)
        return False

    def _liq_stop(self, own, pair, trade, current_time, current_rate, after_fill) -> float | None:
        # Fast path: freqtrade calls this for every candle of every open trade. place_stop
        # changes nothing unless the natural stop lies in a danger zone of a large cluster, so
        # test that first against the zones precomputed for the whole frame (one row look-up,
        # a few float comparisons). Only a stop in a zone takes the full rule below.
        entry = self._liq_cache.get(pair)
        if entry is not None:
            if not current_rate or not math.isfinite(current_rate):
                return own
            natural = self._liq_natural_stop(own, trade, current_rate, after_fill)
            if natural is None:
                return own
            # The zones depend on three thresholds; read them like liqrisk_rule_params does
            # (every call: hyperopt assigns new values between epochs).
            if self._liq_own_params:
                p = self.liqrisk_rule_params()
                key = (trade.is_short, p.min_share, p.band, p.stop_near)
            else:
                key = (trade.is_short, self.liqrisk_min_share.value, self.liqrisk_band.value,
                       self.liqrisk_stop_near.value)
            # Not in a zone, or no usable row (unknown, stale): the full rule keeps ``own`` too.
            if not entry.in_zone(_to_ns(current_time), key, natural):
                return own
        return self._liq_stop_full(own, pair, trade, current_time, current_rate, after_fill)

    def _liq_natural_stop(self, own, trade, current_rate, after_fill) -> float | None:
        """The stop price the rule starts from: the strategy's own stop (``own`` is relative to
        ``current_rate``), else freqtrade's static stop on the initial placement and the
        current stop on later calls (the tighter of own and current there)."""
        if own is None and not after_fill:  # the common case, as rules.tighter(side, None, current)
            current = trade.stop_loss
            return current if current and math.isfinite(current) and current > 0 else None
        side = "short" if trade.is_short else "long"
        lev = float(trade.leverage or 1.0)
        own_price = None
        if own is not None and isinstance(own, (int, float)) and math.isfinite(own) and own != 0:
            own_price = rules.stop_price_from_ratio(current_rate, own, lev, side)
        if after_fill:
            if own_price is not None:
                return own_price
            return rules.stop_price_from_ratio(trade.open_rate, self.stoploss, lev, side)
        return rules.tighter(side, own_price, trade.stop_loss if trade.stop_loss else None)

    def _liq_stop_full(self, own, pair, trade, current_time, current_rate, after_fill) -> float | None:
        snap = self.liqrisk_snapshot(pair, current_time)
        if snap is None or not current_rate or not math.isfinite(current_rate):
            return own
        p = self.liqrisk_rule_params()
        side = "short" if trade.is_short else "long"
        lev = float(trade.leverage or 1.0)
        natural = self._liq_natural_stop(own, trade, current_rate, after_fill)
        static = rules.stop_price_from_ratio(trade.open_rate, self.stoploss, lev, side)
        current = trade.stop_loss if trade.stop_loss else None
        if after_fill:
            # The initial stop may be placed anywhere within the static stop (freqtrade's widest).
            risk_bound = rules.stop_price_from_ratio(trade.open_rate, p.max_risk, lev, side)
            widest = rules.tighter(side, static, risk_bound)
        else:
            # Later calls only tighten: the current stop is the widest we can have.
            widest = rules.tighter(side, current, static)
        if natural is None:
            return own
        where = "below" if side == "long" else "above"
        ref = min(snap.close, current_rate) if side == "long" else max(snap.close, current_rate)
        new, what = rules.place_stop(side, natural, ref, widest, snap.large(where, p.min_share), p)
        if what in (rules.STOP_KEPT, rules.STOP_UNAVOIDABLE):
            if what == rules.STOP_UNAVOIDABLE:
                logger.debug("liqrisk: %s stop %.6g unavoidably in a zone (ref %.6g, widest %.6g, clusters %s)",
                             pair, natural, ref, widest, snap.large(where, p.min_share))
                self._liq_bump("stop_moved", what)
            return own
        self._liq_bump("stop_moved", what)
        tid = getattr(trade, "id", None)
        if tid is not None:
            self._liq_stop_rule[tid] = what
            if self.dp is not None and self.dp.runmode in (RunMode.DRY_RUN, RunMode.LIVE):
                trade.set_custom_data("liqrisk_stop", what)
        value = stoploss_from_absolute(new, current_rate, is_short=trade.is_short, leverage=lev)
        return value if value > 0 else own

    def _liq_leverage(self, own, pair, current_time, current_rate, side) -> float:
        snap = self.liqrisk_snapshot(pair, current_time)
        if snap is None or not own or not current_rate:
            return own
        p = self.liqrisk_rule_params()
        table = self._liq_tiers.get(pair)
        if table is None:  # parsed once per pair (the tier file itself is read once per process)
            table = self._liq_tiers[pair] = liqrisk.tier_table(pair, tiers_path=self._liq_cfg.tiers_path)
        stake = self.config.get("stake_amount")
        stake = float(stake) if isinstance(stake, (int, float)) else None

        def bracket(notional):
            b = table.bracket(notional)
            return b.maintenance_margin_rate, b.cum

        where = "below" if side == "long" else "above"
        lev, why = rules.cap_leverage(side, float(current_rate), float(own), stoploss=self.stoploss,
                                      clusters=snap.large(where, p.min_share), bracket=bracket, stake=stake, p=p)
        if why is not None:
            self._liq_bump("leverage_capped", why)
            logger.debug("liqrisk: %s %s leverage %.4g -> %.4g (%s) at %.6g, clusters %s", pair, side, own, lev,
                         why, current_rate, snap.large(where, p.min_share))
        return min(float(own), lev)

    def _liq_exit(self, ok: bool, trade, exit_reason: str) -> bool:
        if ok and exit_reason in _STOP_EXITS:
            self._liq_counts["stop_exits_total"] += 1
            rule = self._liq_stop_rule.get(getattr(trade, "id", None))
            if rule is None:
                try:
                    rule = trade.get_custom_data("liqrisk_stop")
                except Exception:
                    rule = None
            if rule:
                self._liq_bump("stop_exit", rule)
        return ok

    def _liq_bump(self, group: str, key: str) -> None:
        self._liq_counts[group][key] = self._liq_counts[group].get(key, 0) + 1

    def _liq_alert(self, pair: str, frame: pd.DataFrame) -> None:
        """Message when the last close is within ``liqrisk_alert_dist`` of a large cluster."""
        v = frame[self._liq_col_names()].iloc[-1].to_numpy(np.float64)
        snap = Snapshot(close=float(v[0]), below=((v[1], v[2]), (v[3], v[4])), above=((v[5], v[6]), (v[7], v[8])),
                        long_out_usd=float(v[9]), short_out_usd=float(v[10]))
        p = self.liqrisk_rule_params()
        dist = float(self.liqrisk_alert_dist.value)
        for where, label in (("below", "long-liquidation"), ("above", "short-liquidation")):
            for price in snap.large(where, p.min_share):
                d = abs(price / snap.close - 1.0)
                if d <= dist:
                    now = time.monotonic()
                    if now - self._liq_last_alert.get(pair, -1e18) < 60.0 * self.liqrisk_alert_cooldown_min:
                        return
                    self._liq_last_alert[pair] = now
                    self.dp.send_msg(f"liqrisk {pair}: price {snap.close:.6g} is {d:.2%} from a large {label} "
                                     f"cluster at {price:.6g} ({self.liqrisk_window}).")
                    return

    # -------------------------------------------------------------------------------------
    # Report

    def liqrisk_summary(self) -> dict:
        """Counters since start: vetoes per side:reason, stops moved per rule, stop exits
        whose stop a rule had moved, leverage caps per binding constraint."""
        return json.loads(json.dumps(self._liq_counts))

    def liqrisk_write_report(self) -> Path | None:
        """Log the counters and write them (and every veto) to
        ``<user_data>/backtest_results/liqrisk-<Strategy>-<UTC time>.json``."""
        summary = self.liqrisk_summary()
        name = type(self).__name__
        logger.info("liqrisk %s: entries checked %d, vetoes %s, stops moved %s, stop exits %d (after a liqrisk "
                    "move: %s), leverage capped %s", name, summary["entries_checked"], summary["veto"] or "{}",
                    summary["stop_moved"] or "{}", summary["stop_exits_total"], summary["stop_exit"] or "{}",
                    summary["leverage_capped"] or "{}")
        try:
            folder = Path(self.config.get("user_data_dir", "user_data")) / "backtest_results"
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"liqrisk-{name}-{datetime.now(UTC):%Y%m%d_%H%M%S}.json"
            path.write_text(json.dumps({"strategy": name, "summary": summary, "vetoes": self._liq_vetoes}, indent=1))
        except OSError as e:
            logger.warning("liqrisk: could not write the report: %s", e)
            return None
        logger.info("liqrisk: report written to %s", path)
        return path


# ---------------------------------------------------------------------------------------
# Helpers

#: Run modes that compute features (and so load the numba kernels).
_COMPUTING_RUNMODES = {RunMode.BACKTEST, RunMode.HYPEROPT, RunMode.DRY_RUN, RunMode.LIVE, RunMode.PLOT,
                       RunMode.OTHER}
_warm_up_started = threading.Lock()


def _start_warm_up() -> None:
    """Load the engine's kernels in a background thread, once per process.

    freqtrade builds the strategy before it loads the candles, so the kernels' first-use
    cost (about 0.5 s) overlaps with loading data instead of delaying the first pair.
    A failure here changes nothing: the first real call loads them itself.
    """
    if not _warm_up_started.acquire(blocking=False):
        return

    def run() -> None:
        try:
            from liqrisk.core.engine import warm_up

            warm_up()
        except Exception as e:  # noqa: BLE001 - never let the warm-up disturb the bot
            logger.debug("liqrisk: kernel warm-up failed (%s); the first analysis loads them.", e)

    threading.Thread(target=run, name="liqrisk-warm-up").start()


class _RuleInputs:
    """One pair's rule inputs from its analysed frame, for per-call look-ups.

    ``closes`` (int64 ns) is when each row's candle closed; ``values`` holds the
    ``LiqRiskMixin._SNAP_COLS`` columns. Danger zones are derived from them per side and
    per threshold set on first use (so a hyperopt epoch's new values are honoured).
    """

    __slots__ = ("closes", "values", "_close_list", "_first", "_step", "_stale_ns", "_zones")

    def __init__(self, closes: np.ndarray, values: np.ndarray, tf_ns: int) -> None:
        self.closes = closes
        self.values = values
        self._close_list = closes.tolist()  # Python ints: no numpy call per look-up
        self._first = self._close_list[0] if len(closes) else 0
        self._step = tf_ns
        self._stale_ns = 3 * tf_ns
        self._zones: dict[tuple, array] = {}

    def row(self, t: int) -> int:
        """Index of the last row closed at ``t`` (ns), or -1 if none or older than the
        staleness limit (the bot has not analysed a candle for 3 timeframes)."""
        closes = self._close_list
        # Candles are evenly spaced (freqtrade fills gaps), so try the arithmetic guess first.
        i = (t - self._first) // self._step
        if not (0 <= i < len(closes) - 1 and closes[i] <= t < closes[i + 1]):
            i = bisect_right(closes, t) - 1
        if i < 0 or t - closes[i] > self._stale_ns:
            return -1
        return i

    def in_zone(self, t: int, key: tuple, price: float) -> bool:
        """True when ``price`` lies in a danger zone (``rules.danger_zones``) of a large
        same-side cluster of the last row closed at ``t`` (ns); False when there is no such
        row, it is stale, or its close is unusable (``LiqRiskMixin.liqrisk_snapshot`` is None).

        ``key`` is ``(short, min_share, band, stop_near)``: our side and the thresholds."""
        i = self.row(t)
        if i < 0:
            return False
        z = self._zones.get(key)
        if z is None:
            if len(self._zones) >= 4:  # hyperopt: only the current epoch's thresholds matter
                self._zones.clear()
            z = self._zones[key] = self._danger_zones(*key)
        j = 4 * i
        return z[j] <= price <= z[j + 1] or z[j + 2] <= price <= z[j + 3]

    def _danger_zones(self, short: bool, min_share: float, band: float, stop_near: float) -> array:
        """Per row ``[lo1, hi1, lo2, hi2]`` (flat): the zones of the nearest and the strongest
        cluster, NaN where that cluster is not large: ``Snapshot.large``'s test and
        ``rules.zone_bounds``, element-wise."""
        min_share, band, stop_near = float(min_share), float(band), float(stop_near)
        v = self.values
        close = v[:, 0]
        first, out = (5, v[:, 10]) if short else (1, v[:, 9])
        cols = []
        with np.errstate(invalid="ignore"):
            usable = np.isfinite(close) & (close > 0) & (out > 0)
            for k in (first, first + 2):
                price, usd = v[:, k], v[:, k + 1]
                large = usable & np.isfinite(price) & (price > 0) & (usd >= min_share * out)
                lo, hi = rules.zone_bounds("short" if short else "long", price, band, stop_near)
                cols += [np.where(large, lo, np.nan), np.where(large, hi, np.nan)]
        return array("d", np.column_stack(cols).ravel().tobytes())  # floats on access, not 4n objects


class _PlotConfig(dict):
    """A plot_config generated by liqrisk (regenerated for a subclass's window)."""

    liqrisk = True


def liqrisk_plot_config(window: str = "1d") -> dict:
    """freqtrade ``plot_config``: nearest clusters on the main chart; liquidations, RSI and
    funding subplots."""
    return _PlotConfig({
        "main_plot": {
            f"liq_above_nearest_price_{window}": {"color": "rgba(220,50,50,0.8)"},
            f"liq_below_nearest_price_{window}": {"color": "rgba(40,160,70,0.8)"},
        },
        "subplots": {
            "Liquidations (USD)": {
                f"liq_long_est_usd_{window}": {"type": "bar", "color": "rgba(40,160,70,0.7)"},
                f"liq_short_est_usd_{window}": {"type": "bar", "color": "rgba(220,50,50,0.7)"},
            },
            "RSI": {"liq_rsi": {"color": "purple"}},
            "Funding": {"liq_funding_rate": {"type": "bar", "color": "orange"}},
        },
    })


def _next_is_default(cls, name: str) -> bool:
    """True when the class after LiqRiskMixin in ``cls``'s MRO that defines ``name`` is IStrategy."""
    mro = cls.__mro__
    for b in mro[mro.index(LiqRiskMixin) + 1:]:
        if name in vars(b):
            return b.__module__ == "freqtrade.strategy.interface"
    return True


def _to_ns(t) -> int:
    """UTC ns as an int: a float would make ``searchsorted`` cast the int64 dates on every call."""
    if isinstance(t, datetime):
        if t.tzinfo is None:
            t = t.replace(tzinfo=UTC)
        return round(t.timestamp() * 1e6) * 1000  # datetimes carry microseconds
    return int(pd.Timestamp(t).value)


def _rsi(close: pd.Series, period: int) -> np.ndarray:
    from ta.momentum import RSIIndicator

    return RSIIndicator(close, window=period, fillna=False).rsi().to_numpy(np.float64)


def _align_funding(dates: pd.Series, funding: pd.DataFrame | None, tf_ns: int, max_age_ns: int) -> np.ndarray:
    """Funding known at each candle's close (fraction per 8h): the latest row with
    D + tf_funding ≤ close, NaN if none or older than ``max_age_ns``. Same rule as the core."""
    d = pd.DatetimeIndex(pd.to_datetime(dates, utc=True)).as_unit("ns").asi8 + tf_ns
    out = np.full(len(d), np.nan)
    if funding is None or funding.empty:
        return out
    col = "funding_rate" if "funding_rate" in funding.columns else "open" if "open" in funding.columns else None
    if col is None:
        return out
    fd = pd.DatetimeIndex(pd.to_datetime(funding["date"], utc=True)).as_unit("ns").asi8
    fv = pd.to_numeric(funding[col], errors="coerce").to_numpy(np.float64)
    order = np.argsort(fd, kind="stable")
    fd, fv = fd[order], fv[order]
    ok = np.isfinite(fv)
    fd, fv = fd[ok], fv[ok]
    if not len(fd):
        return out
    ftf = int(np.median(np.diff(fd))) if len(fd) > 1 else 3600 * 10**9
    avail = fd + ftf
    i = np.searchsorted(avail, d, side="right") - 1
    safe = np.maximum(i, 0)
    fresh = (i >= 0) & (d - avail[safe] <= max_age_ns)
    out[fresh] = fv[safe[fresh]]
    return out


# ---------------------------------------------------------------------------------------
# Wrappers for a strategy's own hooks. Explicit signatures: freqtrade inspects
# ``custom_stoploss`` for ``after_fill`` (getfullargspec does not follow __wrapped__).


def _enter(self):
    self._liq_depth += 1


def _leave(self):
    self._liq_depth -= 1
    return self._liq_depth == 0


def _wrap_confirm_trade_entry(fn):
    def confirm_trade_entry(self, pair: str, order_type: str, amount: float, rate: float, time_in_force: str,
                            current_time: datetime, entry_tag: str | None, side: str, **kwargs) -> bool:
        _enter(self)
        try:
            ok = fn(self, pair=pair, order_type=order_type, amount=amount, rate=rate, time_in_force=time_in_force,
                    current_time=current_time, entry_tag=entry_tag, side=side, **kwargs)
        finally:
            outer = _leave(self)
        return self._liq_entry(bool(ok), pair, rate, current_time, side) if outer else ok
    return _mark(confirm_trade_entry, fn)


def _wrap_custom_stoploss(fn):
    def custom_stoploss(self, pair: str, trade, current_time: datetime, current_rate: float,
                        current_profit: float, after_fill: bool, **kwargs) -> float | None:
        _enter(self)
        try:
            own = fn(self, pair=pair, trade=trade, current_time=current_time, current_rate=current_rate,
                     current_profit=current_profit, after_fill=after_fill, **kwargs)
        finally:
            outer = _leave(self)
        return self._liq_stop(own, pair, trade, current_time, current_rate, after_fill) if outer else own
    return _mark(custom_stoploss, fn)


def _wrap_leverage(fn):
    def leverage(self, pair: str, current_time: datetime, current_rate: float, proposed_leverage: float,
                 max_leverage: float, entry_tag: str | None, side: str, **kwargs) -> float:
        _enter(self)
        try:
            own = fn(self, pair=pair, current_time=current_time, current_rate=current_rate,
                     proposed_leverage=proposed_leverage, max_leverage=max_leverage, entry_tag=entry_tag,
                     side=side, **kwargs)
        finally:
            outer = _leave(self)
        return self._liq_leverage(own, pair, current_time, current_rate, side) if outer else own
    return _mark(leverage, fn)


def _wrap_confirm_trade_exit(fn):
    def confirm_trade_exit(self, pair: str, trade, order_type: str, amount: float, rate: float,
                           time_in_force: str, exit_reason: str, current_time: datetime, **kwargs) -> bool:
        _enter(self)
        try:
            ok = fn(self, pair=pair, trade=trade, order_type=order_type, amount=amount, rate=rate,
                    time_in_force=time_in_force, exit_reason=exit_reason, current_time=current_time, **kwargs)
        finally:
            outer = _leave(self)
        return self._liq_exit(ok, trade, exit_reason) if outer else ok
    return _mark(confirm_trade_exit, fn)


def _wrap_informative_pairs(fn):
    def informative_pairs(self):
        _enter(self)
        try:
            own = fn(self)
        finally:
            outer = _leave(self)
        return self._liq_informative(own) if outer else own
    return _mark(informative_pairs, fn)


def _mark(wrapper, fn):
    wrapper.__doc__ = fn.__doc__
    wrapper.__qualname__ = getattr(fn, "__qualname__", wrapper.__name__)
    wrapper.__module__ = getattr(fn, "__module__", wrapper.__module__)
    wrapper._liqrisk_wrapped = True
    wrapper._liqrisk_inner = fn
    return wrapper


_WRAPPERS = {
    "confirm_trade_entry": _wrap_confirm_trade_entry,
    "custom_stoploss": _wrap_custom_stoploss,
    "leverage": _wrap_leverage,
    "confirm_trade_exit": _wrap_confirm_trade_exit,
    "informative_pairs": _wrap_informative_pairs,
}

LiqRiskMixin.plot_config = liqrisk_plot_config(LiqRiskMixin.liqrisk_window)

#: Hooks of the mixin that only read the trade. freqtrade's strategy_safe_wrapper
#: deep-copies ``trade`` before every strategy hook unless the function's qualname starts
#: with "IStrategy." (its marker for framework code). In backtesting custom_stoploss runs
#: once per candle per open trade, and that copy alone made a backtest ~2x slower. These
#: methods never modify the trade, so they carry the framework marker; a strategy's own
#: hooks (wrapped above, or in a base class behind the mixin) keep the copy.
_READ_ONLY = ("custom_stoploss", "confirm_trade_exit")


def _honest_custom_stoploss(self, pair: str, trade, current_time: datetime, current_rate: float,
                            current_profit: float, after_fill: bool, **kwargs) -> float | None:
    return LiqRiskMixin.custom_stoploss(self, pair=pair, trade=trade, current_time=current_time,
                                        current_rate=current_rate, current_profit=current_profit,
                                        after_fill=after_fill, **kwargs)


def _honest_confirm_trade_exit(self, pair: str, trade, order_type: str, amount: float, rate: float,
                               time_in_force: str, exit_reason: str, current_time: datetime, **kwargs) -> bool:
    return LiqRiskMixin.confirm_trade_exit(self, pair=pair, trade=trade, order_type=order_type, amount=amount,
                                           rate=rate, time_in_force=time_in_force, exit_reason=exit_reason,
                                           current_time=current_time, **kwargs)


_HONEST = {"custom_stoploss": _honest_custom_stoploss, "confirm_trade_exit": _honest_confirm_trade_exit}
for _name in _READ_ONLY:
    getattr(LiqRiskMixin, _name).__qualname__ = f"IStrategy.{_name}"
