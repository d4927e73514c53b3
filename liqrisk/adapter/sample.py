"""Signal logic shared by the example strategies ``LiqRiskSample`` and ``LiqRiskSampleBaseline``.

A plain 5m futures trend-pullback strategy, long and short. It is not a trading idea to
deploy; it exists so that the same signals can be backtested with and without
``LiqRiskMixin`` (``freqtrade backtesting --strategy-list LiqRiskSample LiqRiskSampleBaseline``).

* Trend: EMA(50) above EMA(200) and the close above EMA(200) (short: mirrored).
* Pullback end: RSI(14) crosses back above 35 in an up-trend (short: below 65).
* Exit: RSI above 70 for longs, below 30 for shorts; ROI table; static stop −10% of
  stake at 5x leverage (2% of price).
"""

from __future__ import annotations

import numpy as np
from freqtrade.strategy import IStrategy
from pandas import DataFrame
from ta.momentum import RSIIndicator
from ta.trend import EMAIndicator


class LiqRiskSampleBase(IStrategy):
    """Trend-pullback signals; subclass it in a strategy file (freqtrade loads only
    classes defined in the file it reads)."""

    INTERFACE_VERSION = 3
    timeframe = "5m"
    can_short = True
    stoploss = -0.10
    minimal_roi = {"0": 0.10, "120": 0.05, "360": 0.02}
    process_only_new_candles = True
    startup_candle_count = 600
    #: Leverage ratio asked for every trade (the exchange's max caps it).
    sample_leverage = 5.0

    def populate_indicators(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        close = dataframe["close"]
        dataframe["ema_fast"] = EMAIndicator(close, window=50, fillna=False).ema_indicator()
        dataframe["ema_slow"] = EMAIndicator(close, window=200, fillna=False).ema_indicator()
        dataframe["rsi"] = RSIIndicator(close, window=14, fillna=False).rsi()
        return dataframe

    def populate_entry_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        up = (dataframe["ema_fast"] > dataframe["ema_slow"]) & (dataframe["close"] > dataframe["ema_slow"])
        down = (dataframe["ema_fast"] < dataframe["ema_slow"]) & (dataframe["close"] < dataframe["ema_slow"])
        rsi, prev = dataframe["rsi"], dataframe["rsi"].shift(1)
        live = dataframe["volume"] > 0
        dataframe["enter_long"] = np.where(up & (prev < 35) & (rsi >= 35) & live, 1, 0)
        dataframe["enter_short"] = np.where(down & (prev > 65) & (rsi <= 65) & live, 1, 0)
        return dataframe

    def populate_exit_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe["exit_long"] = np.where(dataframe["rsi"] > 70, 1, 0)
        dataframe["exit_short"] = np.where(dataframe["rsi"] < 30, 1, 0)
        return dataframe

    def leverage(self, pair: str, current_time, current_rate: float, proposed_leverage: float,
                 max_leverage: float, entry_tag: str | None, side: str, **kwargs) -> float:
        return min(self.sample_leverage, max_leverage)
