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
* With ``liqrisk_record_liquidations``, dry-run/live also record the exchange's public
  liquidation stream and report the map's score against it daily (``recording``).

Time alignment: in every callback at ``current_time`` the rules use the feature row of
the last candle *closed* at ``current_time`` (row D with D + timeframe ≤ current_time),
the same row ``dp.get_analyzed_dataframe`` ends with. No callback looks further.

Composition: if your strategy defines ``confirm_trade_entry``, ``custom_stoploss``,
``leverage``, ``confirm_trade_exit`` or ``informative_pairs`` itself, the mixin wraps it
(at class creation) and applies its rules once to what your method returns: a veto from
either side wins; the tighter stop wins unless the cluster rule moves it; the lower
leverage wins; informative pairs are merged. Calling ``super()`` in your method is
allowed and returns the next class's answer without the liqrisk layer.

Layout: this class holds the hooks only. ``columns`` builds the feature columns,
``rule_inputs`` keeps them for the callbacks, ``layers`` applies the rules,
``own_hooks`` composes with the strategy's hooks, ``report`` counts and alerts, and
``ft_compat`` holds every freqtrade internal relied on.
"""

from __future__ import annotations

import atexit
from datetime import datetime
from pathlib import Path

import pandas as pd
from freqtrade.enums import RunMode
from freqtrade.strategy import DecimalParameter, IntParameter

import liqrisk
from liqrisk._util import timeframe_to_ns
from liqrisk.adapter import columns, layers, own_hooks, recording
from liqrisk.adapter.report import Alerts, Counters, liqrisk_plot_config, write_report
from liqrisk.adapter.rule_inputs import RuleInputs, snapshot_columns, to_ns
from liqrisk.core import rules
from liqrisk.core.rules import RuleParams, Snapshot

_SPACE = "liqrisk"


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
    #: Dry-run/live: record the exchange's liquidations and score the map daily (``recording``;
    #: the freqtrade config's ``liqrisk_record`` section overrides it).
    liqrisk_record_liquidations: bool = False

    # -- hyperopt parameters ("liqrisk" space) --------------------------------------------
    liqrisk_min_share = DecimalParameter(0.005, 0.10, default=0.01, decimals=3, space=_SPACE)
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
    plot_config = liqrisk_plot_config(liqrisk_window)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        own_hooks.install(cls, LiqRiskMixin)
        # Keep a plot_config the strategy chose; otherwise match it to the strategy's window.
        if "plot_config" not in cls.__dict__ and getattr(cls.plot_config, "liqrisk", False):
            cls.plot_config = liqrisk_plot_config(cls.liqrisk_window)

    def __init__(self, config: dict) -> None:
        super().__init__(config)
        self._liq_cfg = columns.load_config(self.liqrisk_config, config, self.liqrisk_window)
        tf = self._liq_timeframe()
        self._liq_tf_ns = timeframe_to_ns(tf)
        # liq_rsi is Wilder-smoothed (memory (1 - 1/period)^k): 30 periods bring the effect of
        # the history's start below 1e-9, so recursive-analysis stays at 0% at any timeframe.
        need = max(liqrisk.required_startup_candles(self._liq_cfg, tf), 30 * int(self.liqrisk_rsi_period))
        # The features are exact only with this much history before the first candle.
        self.startup_candle_count = max(int(getattr(self, "startup_candle_count", 0) or 0), need)
        self._liq_warn = columns.WarnOnce()
        self._liq_columns = columns.PairColumns(self._liq_cfg, tf, self.liqrisk_rsi_period, self._liq_warn)
        self._liq_inputs: dict[str, RuleInputs] = {}
        self._liq_params: tuple[tuple, RuleParams] | None = None
        self._liq_tiers: dict[str, liqrisk.TierTable] = {}
        self._liq_default_stop = own_hooks.next_is_default(type(self), LiqRiskMixin, "custom_stoploss")
        self._liq_own_params = type(self).liqrisk_rule_params is not LiqRiskMixin.liqrisk_rule_params
        self._liq_depth = 0
        self._liq_counters = Counters()
        self._liq_alerts = Alerts()
        self._liq_report_registered = False
        self._liq_recording: recording.BotRecording | None = None
        columns.start_warm_up(config)

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

    def _liq_timeframe(self) -> str:
        """The strategy timeframe (the config's, else the class attribute)."""
        return self.config.get("timeframe") or self.timeframe

    def _liq_futures(self) -> bool:
        """True in futures trading mode (only then are there OI and funding candles)."""
        return self.config.get("trading_mode", "spot") == "futures"

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
        live = layers.trading(self.dp)
        aux = self._liq_columns.aux_candles(self.dp, pair, futures=self._liq_futures(),
                                            use_mark=self.liqrisk_use_mark)
        out = self._liq_columns.build(dataframe, pair, aux, live=live)
        self._liq_cache_frame(pair, out)
        if not live:  # the backtest report's OI coverage; freqtrade drops the startup rows
            startup = max(int(self.startup_candle_count), int(self.config.get("startup_candle_count") or 0))
            self._liq_counters.oi_coverage(pair, out, skip=startup)
        if live:
            self._liq_alert(pair, out)
            if self._liq_recording is not None:
                self._liq_recording.maybe_report(self.dp)
        return out

    def _liq_cache_frame(self, pair: str, frame: pd.DataFrame) -> None:
        """Keep the rule inputs as arrays for the per-call look-ups (``RuleInputs``)."""
        self._liq_inputs[pair] = RuleInputs.from_frame(frame, self.liqrisk_window, self._liq_tf_ns)

    def _liq_alert(self, pair: str, frame: pd.DataFrame) -> None:
        """Message when the last close is within ``liqrisk_alert_dist`` of a large cluster."""
        self._liq_alerts.check(pair, frame, window=self.liqrisk_window,
                               min_share=self.liqrisk_rule_params().min_share,
                               dist=float(self.liqrisk_alert_dist.value),
                               cooldown_min=self.liqrisk_alert_cooldown_min, send=self.dp.send_msg)

    def liqrisk_snapshot(self, pair: str, current_time: datetime) -> Snapshot | None:
        """The rule inputs of the last candle closed at ``current_time``; None if unknown
        (no data yet, stale data, or no DataProvider)."""
        inputs = self._liq_inputs.get(pair)
        if inputs is None:
            inputs = self._liq_from_dp(pair)
            if inputs is None:
                return None
        return inputs.snapshot(to_ns(current_time))

    def _liq_from_dp(self, pair: str) -> RuleInputs | None:
        """Rule inputs from the DataProvider's analysed frame (not analysed here yet)."""
        if self.dp is None:
            return None
        df, _ = self.dp.get_analyzed_dataframe(pair, self._liq_timeframe())
        if df is None or df.empty or not set(snapshot_columns(self.liqrisk_window)) <= set(df.columns):
            return None
        return RuleInputs.from_frame(df, self.liqrisk_window, self._liq_tf_ns)

    def liqrisk_entry_mask(self, dataframe: pd.DataFrame, side: str) -> pd.Series:
        """True where ``confirm_trade_entry`` would *not* veto a ``side`` entry at that
        candle's close: use it in ``populate_entry_trend`` to gate signals (optional)."""
        codes = rules.entry_veto_codes(dataframe, side, self.liqrisk_rule_params(), self.liqrisk_window)
        return pd.Series(codes == 0, index=dataframe.index)

    # -------------------------------------------------------------------------------------
    # Callbacks (each calls super(); ``own_hooks`` wraps a strategy's own definitions)

    def informative_pairs(self):
        return layers.informative(self, super().informative_pairs())

    def confirm_trade_entry(self, pair: str, order_type: str, amount: float, rate: float, time_in_force: str,
                            current_time: datetime, entry_tag: str | None, side: str, **kwargs) -> bool:
        ok = super().confirm_trade_entry(pair=pair, order_type=order_type, amount=amount, rate=rate,
                                         time_in_force=time_in_force, current_time=current_time,
                                         entry_tag=entry_tag, side=side, **kwargs)
        return ok if self._liq_depth else layers.entry(self, ok, pair, rate, current_time, side)

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
        if self._liq_depth:
            return own
        return layers.stop(self, own, pair, trade, current_time, current_rate, after_fill)

    def leverage(self, pair: str, current_time: datetime, current_rate: float, proposed_leverage: float,
                 max_leverage: float, entry_tag: str | None, side: str, **kwargs) -> float:
        own = super().leverage(pair=pair, current_time=current_time, current_rate=current_rate,
                               proposed_leverage=proposed_leverage, max_leverage=max_leverage,
                               entry_tag=entry_tag, side=side, **kwargs)
        return own if self._liq_depth else layers.leverage(self, own, pair, current_time, current_rate, side)

    def confirm_trade_exit(self, pair: str, trade, order_type: str, amount: float, rate: float,
                           time_in_force: str, exit_reason: str, current_time: datetime, **kwargs) -> bool:
        ok = super().confirm_trade_exit(pair=pair, trade=trade, order_type=order_type, amount=amount, rate=rate,
                                        time_in_force=time_in_force, exit_reason=exit_reason,
                                        current_time=current_time, **kwargs)
        return ok if self._liq_depth else layers.exit_(self, ok, trade, exit_reason)

    def ft_bot_start(self, **kwargs) -> None:
        super().ft_bot_start(**kwargs)
        if self.dp is not None and self.dp.runmode == RunMode.BACKTEST and not self._liq_report_registered:
            # freqtrade has no "backtest finished" hook; the process exits right after the report.
            atexit.register(self.liqrisk_write_report)
            self._liq_report_registered = True
        if self._liq_recording is None:
            self._liq_recording = recording.start_for(self)

    def ft_bot_cleanup(self) -> None:
        super().ft_bot_cleanup()
        if self._liq_recording is not None:
            self._liq_recording.stop()

    def liqrisk_recording_report(self) -> None:
        """Send the recorded-liquidations score now (``dp.send_msg``), if recording is on."""
        if self._liq_recording is not None:
            self._liq_recording.report(self.dp)

    # -------------------------------------------------------------------------------------
    # Report

    def liqrisk_summary(self) -> dict:
        """Counters since start: vetoes per side:reason, stops moved per rule, stop exits
        whose stop a rule had moved, leverage caps per binding constraint."""
        return self._liq_counters.summary()

    def liqrisk_write_report(self) -> Path | None:
        """Log the counters and write them (and every veto) to
        ``<user_data>/backtest_results/liqrisk-<Strategy>-<UTC time>.json``."""
        return write_report(type(self).__name__, self._liq_counters, self.config.get("user_data_dir", "user_data"))


own_hooks.mark_read_only(LiqRiskMixin)
